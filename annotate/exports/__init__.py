"""Project exports (JSONL, CSV): built by a worker into encrypted tenant storage, then
downloaded by members with the project's ``export`` permission. See docs/export.md."""
