"""The real executor and its Polymarket CLOB V2 parts: ``executor`` (RealExecutor), ``client``
(py-clob-client-v2 under a thread pool), ``signing`` (order build + EIP-712), ``errors`` (venue
answers → reject reasons), ``reports`` (user-channel and REST reports → our fills/updates)."""
