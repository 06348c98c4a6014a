//! Tests of partitioned execution.
