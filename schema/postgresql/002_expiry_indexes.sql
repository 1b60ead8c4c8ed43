-- tally-expirer removes metadata documents nothing points to, a range of ids
-- per short transaction; each id is looked up in sample and resource, which
-- needs these indexes (without them every range would scan all samples).
CREATE INDEX sample_metadata_id_idx ON sample (metadata_id);
CREATE INDEX resource_metadata_id_idx ON resource (metadata_id);
