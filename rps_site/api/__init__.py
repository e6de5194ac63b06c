"""Building blocks every resource API shares: upstream's validation semantics, OData paging,
record versions and conditional responses."""
