//! tsq's query errors as gRPC statuses, each with the error's message
//! (which carries the query position for parse and plan errors).

use tonic::Status;
use tsq_engine::EngineError;
use tsq_planner::TsqError;

/// The status a failed query answers with: `InvalidArgument` for parse
/// and plan errors, `ResourceExhausted` over the memory budget,
/// `Cancelled`, `DeadlineExceeded` after a timeout, `Internal` otherwise.
pub(crate) fn from_tsq(error: &TsqError) -> Status {
    let message = error.to_string();
    match error {
        TsqError::Parse { .. }
        | TsqError::Plan { .. }
        | TsqError::Execution(EngineError::InvalidArgument(_)) => Status::invalid_argument(message),
        TsqError::Timeout(_) => Status::deadline_exceeded(message),
        e if e.is_resources_exhausted() => Status::resource_exhausted(message),
        e if e.is_cancelled() => Status::cancelled(message),
        _ => Status::internal(message),
    }
}

/// A storage error while reading the catalog.
pub(crate) fn from_engine(error: EngineError) -> Status {
    from_tsq(&TsqError::from(error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;
    use tsq_planner::Pos;

    #[test]
    fn codes_and_messages() {
        let plan = from_tsq(&TsqError::plan(Pos::new(1, 34), "FILL needs SAMPLE BY"));
        assert_eq!(plan.code(), Code::InvalidArgument);
        assert_eq!(plan.message(), "plan error at 1:34: FILL needs SAMPLE BY");
        assert_eq!(
            from_tsq(&TsqError::parse(Pos::new(2, 1), "x")).code(),
            Code::InvalidArgument
        );
        let cancelled = from_tsq(&TsqError::Execution(EngineError::Cancelled));
        assert_eq!(
            (cancelled.code(), cancelled.message()),
            (Code::Cancelled, "query cancelled")
        );
        let budget = TsqError::Execution(EngineError::ResourcesExhausted {
            operator: "ResultJoin".into(),
            requested: 10,
            held: 0,
            used: 5,
            budget: 8,
            hint: "raise it".into(),
        });
        assert_eq!(from_tsq(&budget).code(), Code::ResourceExhausted);
        let storage = from_engine(EngineError::Storage("bad block at 7".into()));
        assert_eq!(
            (storage.code(), storage.message()),
            (Code::Internal, "storage error: bad block at 7")
        );
    }
}
