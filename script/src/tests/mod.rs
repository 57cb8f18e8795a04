//! Tests of whole scripts against a fake host, with expected replies taken
//! from redis-server 7.0.15.

mod fake_host;
mod recorded;
mod redis_cases;
mod resp;
mod sandbox_cases;
