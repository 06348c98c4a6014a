//! `tsq compact`: a full compaction of the store (the cache snapshotted, every
//! shard merged into one TSM file), and the one line that says what it did.

use tsq_storage::tsm::compact::CompactReport;

/// `compacted N TSM files (X bytes) into M (Y bytes)`, plus the shard count.
pub fn describe(report: &CompactReport) -> String {
    let files = |n: usize| if n == 1 { "file" } else { "files" };
    format!(
        "compacted {} TSM {} ({} bytes) into {} {} ({} bytes); {} shards rewritten",
        report.files_before,
        files(report.files_before),
        report.bytes_before,
        report.files_after,
        files(report.files_after),
        report.bytes_after,
        report.shards_merged
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_files_and_bytes() {
        let report = CompactReport {
            files_before: 5,
            bytes_before: 1000,
            files_after: 1,
            bytes_after: 700,
            shards_merged: 1,
        };
        assert_eq!(
            describe(&report),
            "compacted 5 TSM files (1000 bytes) into 1 file (700 bytes); 1 shards rewritten"
        );
    }
}
