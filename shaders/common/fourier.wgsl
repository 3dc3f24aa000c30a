// Gaussian Fourier features of a time t (QGPO's GaussianFourierProjection): sin(2π·t·w) and
// cos(2π·t·w) for each fixed random frequency w. Shared by the time embedding kernel and the
// one-dispatch sampler of small batches, which must embed t identically.

const TAU: f32 = 6.28318530717959;

// sin and cos of 2π·t·w, the first when `use_sin`. t·w reaches about ±100 with QGPO's scale of
// 30; reducing it to a fraction of a turn in [-1/2, 1/2] first keeps the angle in [-π, π],
// where GPUs evaluate sin and cos accurately, and changes no value (sin and cos have period 1
// in turns).
fn fourier_feature(time: f32, frequency: f32, use_sin: bool) -> f32 {
    let turns = time * frequency;
    let angle = TAU * (turns - round(turns));
    return select(cos(angle), sin(angle), use_sin);
}
