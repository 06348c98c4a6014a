//! The `PhysicalExtensionCodec` of [`TsqShardExec`]: the statement text,
//! the mode, the shard id and the result schema cross the network, never a
//! handle (`docs/distributed.md`). A worker's codec holds its store and
//! builds the node over it; the coordinator's holds none.

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use datafusion_proto::protobuf;
use prost::Message;
use tsq_planner::Session;

use super::shard::ShardId;
use super::shard_exec::{ShardMode, TsqShardExec};

/// Encodes and decodes [`TsqShardExec`]; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct TsqCodec {
    store: Option<Arc<Session>>,
}

impl TsqCodec {
    /// The coordinator's codec (no store).
    pub fn coordinator() -> Self {
        TsqCodec { store: None }
    }

    /// A worker's codec: decoded nodes run on `store`.
    pub fn worker(store: Arc<Session>) -> Self {
        TsqCodec { store: Some(store) }
    }
}

#[derive(Clone, PartialEq, prost::Message)]
struct TsqShardExecProto {
    #[prost(string, tag = "1")]
    sql: String,
    #[prost(bool, tag = "2")]
    describe: bool,
    #[prost(uint32, optional, tag = "3")]
    shard: Option<u32>,
    #[prost(message, optional, tag = "4")]
    schema: Option<protobuf::Schema>,
}

impl PhysicalExtensionCodec for TsqCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        _ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if !inputs.is_empty() {
            return Err(DataFusionError::Internal(format!(
                "TsqShardExec is a leaf, decoded with {} inputs",
                inputs.len()
            )));
        }
        let proto = TsqShardExecProto::decode(buf)
            .map_err(|e| DataFusionError::Internal(format!("decoding TsqShardExec: {e}")))?;
        let schema: Schema = proto
            .schema
            .as_ref()
            .ok_or_else(|| DataFusionError::Internal("TsqShardExec without a schema".into()))?
            .try_into()?;
        let mode = if proto.describe {
            ShardMode::Describe
        } else {
            ShardMode::Run
        };
        Ok(Arc::new(TsqShardExec::new(
            &proto.sql,
            mode,
            proto.shard.map(ShardId),
            Arc::new(schema),
            self.store.clone(),
        )))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        let Some(exec) = node.downcast_ref::<TsqShardExec>() else {
            return Err(DataFusionError::Internal(format!(
                "TsqCodec encodes TsqShardExec, got {}",
                node.name()
            )));
        };
        let proto = TsqShardExecProto {
            sql: exec.sql().to_string(),
            describe: exec.mode() == ShardMode::Describe,
            shard: exec.shard().map(|s| s.0),
            schema: Some(node.schema().as_ref().try_into()?),
        };
        proto
            .encode(buf)
            .map_err(|e| DataFusionError::Internal(format!("encoding TsqShardExec: {e}")))
    }
}
