"""What the tests share: independent expected values, traffic and corpora, processes they start."""
