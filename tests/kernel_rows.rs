//! Row copying into groups and the elementwise minimum against their CPU twins.

mod common;

use common::{gpu, random};
use qipo::gpu::{GpuBuffer, Recorder};
use qipo::kernels::rows::{CopyRows, CopyRowsParams, Minimum, MinimumParams};
use qipo::reference;

#[test]
fn copy_rows_matches_reference() {
    let gpu = gpu();
    // (groups, per_group, dst_group, dst_first, width): QIPO's slot 0 and slots 1..M, and odd cases.
    for (groups, per_group, dst_group, dst_first, width) in
        [(1, 1, 1, 0, 1), (7, 1, 17, 0, 6), (7, 16, 17, 1, 6), (33, 3, 5, 2, 3), (257, 2, 2, 0, 7)]
    {
        let rows = groups * per_group;
        let src = random(rows as u64, rows * width, 1.0);
        let before = random(rows as u64 + 1, groups * dst_group * width + 3, 1.0);
        let mut want = before.clone();
        reference::rows::copy_rows(&src, &mut want[3..], width, per_group, dst_group, dst_first);
        let s = GpuBuffer::from_slice(gpu, "src", &[vec![0.0; 2], src].concat()).unwrap();
        let d = GpuBuffer::from_slice(gpu, "dst", &before).unwrap();
        let op = CopyRows::new(gpu, &s, &d).unwrap();
        let mut rec = Recorder::new(gpu);
        let params = CopyRowsParams {
            rows: rows as u32,
            width: width as u32,
            per_group: per_group as u32,
            dst_group: dst_group as u32,
            dst_first: dst_first as u32,
            src_off: 2,
            dst_off: 3,
        };
        op.record(&mut rec, params);
        rec.submit_and_wait().unwrap();
        assert_eq!(d.read::<f32>(gpu).unwrap(), want, "groups {groups}, {per_group} into {dst_group} at {dst_first}");
    }
}

#[test]
fn minimum_matches_reference() {
    let gpu = gpu();
    for n in [1usize, 7, 33, 257, 1000] {
        let a = random(n as u64, n, 5.0);
        let b = random(n as u64 + 9, n + 1, 5.0);
        let want = reference::rows::minimum(&a, &b[1..]);
        let ab = GpuBuffer::from_slice(gpu, "a", &a).unwrap();
        let bb = GpuBuffer::from_slice(gpu, "b", &b).unwrap();
        let out = GpuBuffer::zeros(gpu, "out", n + 2).unwrap();
        let op = Minimum::new(gpu, &ab, &bb, &out).unwrap();
        let mut rec = Recorder::new(gpu);
        op.record_with(
            &mut rec,
            MinimumParams { count: n as u32, a_off: 0, b_off: 1, out_off: 2, ..Default::default() },
        );
        rec.submit_and_wait().unwrap();
        assert_eq!(&out.read::<f32>(gpu).unwrap()[2..], &want[..], "n = {n}");
    }
}

/// Three seeds' twin heads in one buffer (Q1 then Q2 per seed, with a gap): one dispatch gives
/// every seed's min(Q1, Q2), one seed after another.
#[test]
fn minimum_over_copies_matches_reference() {
    let gpu = gpu();
    let (copies, len, gap) = (3usize, 37usize, 4usize);
    let stride = 2 * len + gap;
    let heads = random(77, copies * stride + 1, 5.0);
    let buf = GpuBuffer::from_slice(gpu, "heads", &heads).unwrap();
    let out = GpuBuffer::zeros(gpu, "out", copies * len + 1).unwrap();
    let op = Minimum::new(gpu, &buf, &buf, &out).unwrap();
    let params = MinimumParams {
        count: (copies * len) as u32,
        a_off: 1,
        b_off: (1 + len) as u32,
        out_off: 1,
        copy_len: len as u32,
        copy_stride: stride as u32,
    };
    let mut rec = Recorder::new(gpu);
    op.record_with(&mut rec, params);
    rec.submit_and_wait().unwrap();
    let got = out.read::<f32>(gpu).unwrap();
    for c in 0..copies {
        let own = &heads[1 + c * stride..];
        let want = reference::rows::minimum(&own[..len], &own[len..2 * len]);
        assert_eq!(&got[1 + c * len..][..len], &want[..], "copy {c}");
    }
    assert_eq!(got[0], 0.0, "nothing written before the output");
}
