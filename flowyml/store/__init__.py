"""Where results live: the local one-file store, object storage, the shared index, signing,
and the lifecycle (info, gc, why). Its face is :func:`flowyml.store.locations.open_store`."""
