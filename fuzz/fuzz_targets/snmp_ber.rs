#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cmdb_fuzz::snmp_ber(data);
});
