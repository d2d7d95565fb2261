//! Confab plugin SDK.
