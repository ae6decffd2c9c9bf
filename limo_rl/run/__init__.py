"""The run folder and its stores: layout, stage cache and content-addressed stage store, lock and lease,
hashing, the object-store commit protocol, the model store. Imports `errors` and `types` only (plus `config` for typed settings)."""
