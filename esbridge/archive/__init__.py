"""`esbridge archive` and `esbridge replay`: every stream kept forever in daily files, exactly
once, and brought back into the search engine through today's transforms."""
