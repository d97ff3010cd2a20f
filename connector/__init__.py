"""seqsync: a sales-sequence engine with a Dataverse sync connector."""
