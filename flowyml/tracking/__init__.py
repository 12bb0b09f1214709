"""What a step touches outside its arguments: the files it reads and writes (``files``) and
the process-wide state it changes or consumes (``state``). Ground floor: no flowyml imports
from above, no IPython."""
