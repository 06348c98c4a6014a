//! Evaluation of a [`ScalarExpr`] over the value columns of one result
//! batch with arrow's kernels: each node is one kernel call over whole
//! arrays (a number stays a scalar operand, never a filled array), nulls
//! propagate through the kernels' null buffers.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array, Scalar};
use arrow::compute::cast;
use arrow::compute::kernels::numeric;
use arrow::datatypes::{DataType, Float64Type};

use super::ScalarExpr;
use crate::ast::ArithOp;
use crate::error::{Result, TsqError};

/// A node's value: a column of the batch, or one number for every row.
enum Value {
    Array(ArrayRef),
    Number(f64),
}

impl ScalarExpr {
    /// The expression over `columns` (the batch's value columns by output
    /// index, each Float64 with `rows` rows), as a Float64 column.
    pub fn evaluate(&self, columns: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
        Ok(match self.value(columns)? {
            Value::Array(a) => a,
            Value::Number(v) => Arc::new(Float64Array::from_value(v, rows)),
        })
    }

    fn value(&self, columns: &[ArrayRef]) -> Result<Value> {
        Ok(match self {
            ScalarExpr::Column(i) => {
                let column = columns.get(*i).ok_or_else(|| {
                    TsqError::Execution(tsq_engine::EngineError::execution(
                        "ResultProjection",
                        format!("expression reads value column {i} of {}", columns.len()),
                    ))
                })?;
                // Arithmetic is in f64: integer columns are converted
                // (`docs/semantics.md` §11).
                Value::Array(cast(column, &DataType::Float64)?)
            }
            ScalarExpr::Literal(v) => Value::Number(*v),
            ScalarExpr::Neg(e) => match e.value(columns)? {
                Value::Array(a) => Value::Array(numeric::neg(&a)?),
                Value::Number(v) => Value::Number(-v),
            },
            ScalarExpr::Call { func, arg } => match arg.value(columns)? {
                Value::Array(a) => {
                    let f = |x: f64| func.apply(x);
                    let out: Float64Array = a.as_primitive::<Float64Type>().unary(f);
                    Value::Array(Arc::new(out))
                }
                Value::Number(v) => Value::Number(func.apply(v)),
            },
            ScalarExpr::Binary { op, left, right } => {
                binary(*op, left.value(columns)?, right.value(columns)?)?
            }
        })
    }
}

/// `l op r` with one kernel call (or plain arithmetic for two numbers).
fn binary(op: ArithOp, l: Value, r: Value) -> Result<Value> {
    let kernel = match op {
        ArithOp::Add => numeric::add,
        ArithOp::Sub => numeric::sub,
        ArithOp::Mul => numeric::mul,
        ArithOp::Div => numeric::div,
    };
    let scalar = |v: f64| Scalar::new(Float64Array::from(vec![v]));
    let out = match (l, r) {
        (Value::Number(a), Value::Number(b)) => return Ok(Value::Number(op.apply(a, b))),
        (Value::Array(a), Value::Array(b)) => kernel(&a, &b)?,
        (Value::Array(a), Value::Number(b)) => kernel(&a, &scalar(b))?,
        (Value::Number(a), Value::Array(b)) => kernel(&scalar(a), &b)?,
    };
    Ok(Value::Array(out))
}
