//! What the `windtunnel` command's end-to-end tests share: the demo shop on loopback and a
//! fresh directory per test.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

/// The demo shop, on loopback, for as long as this lives.
pub struct Shop {
    _runtime: tokio::runtime::Runtime,
    pub handle: demo_shop::ShopHandle,
}

pub fn shop() -> Shop {
    shop_with(demo_shop::ShopConfig::instant())
}

/// The demo shop configured as `config`.
pub fn shop_with(config: demo_shop::ShopConfig) -> Shop {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let handle = runtime.block_on(demo_shop::spawn(config)).unwrap();
    Shop {
        _runtime: runtime,
        handle,
    }
}

/// The demo payment provider, on loopback, for as long as this lives.
pub fn payments() -> Shop {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let handle = runtime
        .block_on(demo_shop::spawn_payments(Default::default()))
        .unwrap();
    Shop {
        _runtime: runtime,
        handle,
    }
}

/// A fresh, empty directory for test `test` of the test file `group`.
pub fn scratch(group: &str, test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(group)
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
