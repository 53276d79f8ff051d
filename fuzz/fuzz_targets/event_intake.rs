#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cmdb_fuzz::event_intake(data);
});
