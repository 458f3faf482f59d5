"""Print the schema a blank library gets from kettrack's migrations.

``tests/test_store.py`` compares it with ``tests/fixtures/schema.sql``; after
adding a migration, regenerate that file with::

    python scripts/dump_schema.py > tests/fixtures/schema.sql
"""

from kettrack.library.store import Library

if __name__ == "__main__":
    print(Library.memory().schema_sql(), end="")
