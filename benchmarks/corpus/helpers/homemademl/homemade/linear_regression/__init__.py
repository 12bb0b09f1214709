"""Linear Regression Module"""

from .linear_regression import LinearRegression
