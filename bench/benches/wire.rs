//! Codec micro-benchmarks: the per-packet work of the fast path.
//!
//! `cargo bench -p bench --bench wire` prints figures; nothing here asserts timing.
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use dataplane::wire::checksum::{self, Checksum};
use dataplane::wire::mptcp::csum::DssCsum;
use dataplane::wire::mptcp::{Dss, DssMapping, DssSeq, MptcpOption, Version};

fn bench_checksum(c: &mut Criterion) {
    let data: Vec<u8> = (0..1460u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut g = c.benchmark_group("checksum");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("fast_1460", |b| {
        b.iter(|| checksum::checksum(black_box(&data)))
    });
    g.bench_function("rfc1071_reference_1460", |b| {
        b.iter(|| checksum::reference(black_box(&data)))
    });
    g.bench_function("dss_csum_1460_in_3_pieces", |b| {
        b.iter(|| {
            let mut d = DssCsum::new(black_box(0x1234_5678_9abc), 1, 1460);
            d.add_payload(&data[..501]);
            d.add_payload(&data[501..1001]);
            d.add_payload(&data[1001..]);
            d.finish()
        })
    });
    g.bench_function("pseudo_v4", |b| {
        b.iter(|| {
            Checksum::pseudo_v4(
                black_box([10, 0, 1, 1].into()),
                [10, 0, 1, 2].into(),
                6,
                1480,
            )
            .fold()
        })
    });
    g.finish();
}

fn bench_mptcp(c: &mut Criterion) {
    let dss = MptcpOption::Dss(Dss {
        data_fin: false,
        data_ack: Some(DssSeq {
            value: 0x1122_3344_5566_7788,
            wide: true,
        }),
        mapping: Some(DssMapping {
            dsn: DssSeq {
                value: 0x0102_0304_0506_0708,
                wide: true,
            },
            ssn: 1,
            data_len: 1428,
            checksum: None,
        }),
    });
    let mut buf = [0u8; 40];
    let n = dss.emit(&mut buf, Version::V1).expect("fits");
    let mut g = c.benchmark_group("mptcp");
    g.bench_function("dss_parse", |b| {
        b.iter(|| MptcpOption::parse(black_box(&buf[..n]), Version::V1))
    });
    g.bench_function("dss_emit", |b| {
        let mut out = [0u8; 40];
        b.iter(|| black_box(&dss).emit(&mut out, Version::V1))
    });
    g.finish();
}

criterion_group!(benches, bench_checksum, bench_mptcp);
criterion_main!(benches);
