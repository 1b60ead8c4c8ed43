-- tally-expirer removes metadata documents nothing points to. The rows it
-- deletes (and the partitions it drops) name the documents that may have
-- lost their last reference; they are noted here in the same transaction,
-- then looked up (both references are indexed) and removed a range at a
-- time. An interrupted run leaves its candidates for the next one.
CREATE INDEX sample_metadata_id_idx ON sample (metadata_id);
CREATE INDEX resource_metadata_id_idx ON resource (metadata_id);
CREATE TABLE tally_expire_candidate (metadata_id bigint PRIMARY KEY);
