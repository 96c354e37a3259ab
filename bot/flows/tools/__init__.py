"""The authors' tools around the flows: `lint` (`bot check`), `graph` (`bot graph`), `schema`
(`bot schema`), `simulate` (one conversation offline, on a fake clock) and `flowtest`
(`bot test`). Nothing here runs when the server answers a customer."""
