//! End-to-end tests of the API through the running local stack: HTTP into
//! `cargo lambda watch`'s router, one Lambda function per route, DynamoDB Local.
//!
//! `make test` starts the stack and sets `CLIENTELE_URL` and `CLIENTELE_ADMIN_KEY`.
//! Every test makes its own partners (unique names), so tests run in parallel.

mod helpers;
mod hostile;
mod receiver;

mod api_keys;
mod clients;
mod clients_concurrency;
mod clients_input;
mod clients_lists;
mod console_links;
mod credential_limits;
mod credentials;
mod dialects;
mod delivery_faults;
mod contract_events;
mod contract_http;
mod contract_idempotency;
mod contract_lists;
mod contract_races;
mod contract_tenancy;
mod contract_versions;
mod events;
mod hostile_receivers;
mod http;
mod idempotency;
mod input_hygiene;
mod in_process;
mod licenses;
mod lifecycle;
mod numbers_and_moves;
mod limits;
mod partners;
mod round_trips;
mod security;
mod sharded_lists;
mod teammates;
mod usage;
mod webhooks;
mod widening;
