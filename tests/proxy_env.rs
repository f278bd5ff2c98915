//! Proxy environment variables are never read: firmware must not be surprised by a variable
//! set for some other program. (Own test binary: it changes the process environment.)

mod common;

use common::env;
use iothttp::Cloud;

#[test]
fn proxy_environment_variables_are_ignored() {
    for var in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        // SAFETY: this test binary has a single test; no other thread reads the environment.
        unsafe { std::env::set_var(var, "http://127.0.0.1:1") };
    }
    let env = env();
    for cloud in [Cloud::UCloud, Cloud::Aliyun] {
        let dev = env.device(cloud);
        dev.device.publish(&dev.topic(), b"direct").unwrap();
    }
}
