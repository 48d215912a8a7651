"""The datatrove steps of a curation job that are not readers, labellers or dedup: batching,
normalisation, the rules' signals and thresholds, and the corpus writer."""
