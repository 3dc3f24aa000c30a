// Activation functions and their derivatives, shared by the linear layer kernels.
// The codes match `qipo::nn::Activation::code()`.

const ACT_IDENTITY: u32 = 0u;
const ACT_RELU: u32 = 1u;
const ACT_SILU: u32 = 2u;
const ACT_MISH: u32 = 3u;

fn sigmoid(z: f32) -> f32 {
    return 1.0 / (1.0 + exp(-z));
}

// log(1 + e^z) without overflow for large z.
fn softplus(z: f32) -> f32 {
    return max(z, 0.0) + log(1.0 + exp(-abs(z)));
}

fn activate(z: f32, act: u32) -> f32 {
    switch act {
        case ACT_RELU: { return max(z, 0.0); }
        case ACT_SILU: { return z * sigmoid(z); }
        case ACT_MISH: { return z * tanh(softplus(z)); }
        default: { return z; }
    }
}

// d activate(z) / dz, evaluated at the pre-activation z.
fn activate_grad(z: f32, act: u32) -> f32 {
    switch act {
        case ACT_RELU: { return select(0.0, 1.0, z > 0.0); }
        case ACT_SILU: {
            let s = sigmoid(z);
            return s * (1.0 + z * (1.0 - s));
        }
        case ACT_MISH: {
            let t = tanh(softplus(z));
            return t + z * (1.0 - t * t) * sigmoid(z);
        }
        default: { return 1.0; }
    }
}
