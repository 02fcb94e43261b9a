//! TEMPORARY stand-in until the mapping module lands (same signatures).
use crate::payload::CreateCustomer;
use crate::record::{Header, Record, RowError};

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct MappingConfig {}
#[derive(Debug, thiserror::Error)]
#[error("mapping")]
pub enum MappingError {
    X,
}
pub struct Mapper;
pub struct HeaderPlan(Vec<String>);
impl HeaderPlan {
    pub fn unmapped_columns(&self) -> &[String] {
        &self.0
    }
}
impl Mapper {
    pub fn new(_c: Option<&MappingConfig>) -> Result<Mapper, MappingError> {
        Ok(Mapper)
    }
    pub fn plan(&self, _h: &Header) -> Result<HeaderPlan, MappingError> {
        Ok(HeaderPlan(vec![]))
    }
    pub fn map(
        &self,
        _p: Option<&HeaderPlan>,
        _r: &Record,
    ) -> Result<CreateCustomer, Vec<RowError>> {
        Err(vec![])
    }
}
