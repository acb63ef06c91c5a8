// Compiled into layers that have no source file of their own yet.
