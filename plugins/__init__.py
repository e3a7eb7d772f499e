"""lyncready's built-in checks. Each module is an ordinary pluggy plugin using only the public API."""
