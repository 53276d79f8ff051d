#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cmdb_fuzz::import_lines(data);
});
