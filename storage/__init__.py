"""Tables, sessions, repositories and migrations. Repository functions never commit: the caller's unit of
work does, once per update."""
