//! The built-in activations whose derivative comes from their input (LeakyRelu, Elu, Gelu, Silu,
//! Softplus): values and derivatives against PyTorch, gradient checks, and the model's use of
//! the kept pre-activation values.

use backprop::prelude::*;
use nalgebra::DMatrix;

/// An activation's values `f(z)` and derivatives `f'(z)` at the points `Z`.
pub struct Golden {
    pub f: [f64; 16],
    pub df: [f64; 16],
}

// Provenance: the output of tests/golden/activations.py (PyTorch: torch.nn.functional forward,
// autograd derivative with an upstream gradient of ones), run as its docstring says, pasted as is.
#[rustfmt::skip]
#[allow(clippy::approx_constant, clippy::excessive_precision)]
mod golden {
    use super::Golden;
    // torch 2.15.0+cu132, CPU
    pub const Z: [f64; 16] = [-30.0, -20.5, -5.0, -2.0, -1.0, -0.5, -0.001, 0.0, 0.001, 0.5, 1.0, 2.0, 5.0, 19.5, 20.5, 30.0];
    pub const LEAKY_RELU_DEFAULT_F64: Golden = Golden { f: [-0.3, -0.20500000000000002, -0.05, -0.02, -0.01, -0.005, -1e-05, 0.0, 0.001, 0.5, 1.0, 2.0, 5.0, 19.5, 20.5, 30.0], df: [0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0] };
    pub const LEAKY_RELU_DEFAULT_F32: Golden = Golden { f: [-0.29999998211860657, -0.20499999821186066, -0.04999999701976776, -0.019999999552965164, -0.009999999776482582, -0.004999999888241291, -1.0000000656873453e-05, 0.0, 0.0010000000474974513, 0.5, 1.0, 2.0, 5.0, 19.5, 20.5, 30.0], df: [0.009999999776482582, 0.009999999776482582, 0.009999999776482582, 0.009999999776482582, 0.009999999776482582, 0.009999999776482582, 0.009999999776482582, 0.009999999776482582, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0] };
    pub const LEAKY_RELU_0_2_F64: Golden = Golden { f: [-6.0, -4.1000000000000005, -1.0, -0.4, -0.2, -0.1, -0.0002, 0.0, 0.001, 0.5, 1.0, 2.0, 5.0, 19.5, 20.5, 30.0], df: [0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0] };
    pub const LEAKY_RELU_0_2_F32: Golden = Golden { f: [-6.0, -4.099999904632568, -1.0, -0.4000000059604645, -0.20000000298023224, -0.10000000149011612, -0.00020000000949949026, 0.0, 0.0010000000474974513, 0.5, 1.0, 2.0, 5.0, 19.5, 20.5, 30.0], df: [0.20000000298023224, 0.20000000298023224, 0.20000000298023224, 0.20000000298023224, 0.20000000298023224, 0.20000000298023224, 0.20000000298023224, 0.20000000298023224, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0] };
    pub const ELU_DEFAULT_F64: Golden = Golden { f: [-0.9999999999999064, -0.9999999987498471, -0.9932620530009145, -0.8646647167633873, -0.6321205588285577, -0.3934693402873666, -0.0009995001666250085, 0.0, 0.001, 0.5, 1.0, 2.0, 5.0, 19.5, 20.5, 30.0], df: [9.357622968840175e-14, 1.2501528663867428e-09, 0.006737946999085467, 0.1353352832366127, 0.36787944117144233, 0.6065306597126334, 0.999000499833375, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0] };
    pub const ELU_DEFAULT_F32: Golden = Golden { f: [-1.0, -1.0, -0.9932620525360107, -0.8646647334098816, -0.6321205496788025, -0.39346933364868164, -0.0009995001601055264, 0.0, 0.0010000000474974513, 0.5, 1.0, 2.0, 5.0, 19.5, 20.5, 30.0], df: [9.357622912219837e-14, 1.2501528701136522e-09, 0.0067379469983279705, 0.1353352814912796, 0.3678794503211975, 0.6065306663513184, 0.9990004897117615, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0] };
    pub const ELU_0_5_F64: Golden = Golden { f: [-0.4999999999999532, -0.49999999937492356, -0.49663102650045726, -0.43233235838169365, -0.31606027941427883, -0.1967346701436833, -0.0004997500833125042, 0.0, 0.001, 0.5, 1.0, 2.0, 5.0, 19.5, 20.5, 30.0], df: [4.6788114844200874e-14, 6.250764331933714e-10, 0.0033689734995427335, 0.06766764161830635, 0.18393972058572117, 0.3032653298563167, 0.4995002499166875, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0] };
    pub const ELU_0_5_F32: Golden = Golden { f: [-0.5, -0.5, -0.49663102626800537, -0.4323323667049408, -0.31606027483940125, -0.19673466682434082, -0.0004997500800527632, 0.0, 0.0010000000474974513, 0.5, 1.0, 2.0, 5.0, 19.5, 20.5, 30.0], df: [4.6788114561099187e-14, 6.250764350568261e-10, 0.0033689734991639853, 0.0676676407456398, 0.18393972516059875, 0.3032653331756592, 0.49950024485588074, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0] };
    pub const GELU_EXACT_F64: Golden = Golden { f: [-0.0, -0.0, -1.4332578593401202e-06, -0.04550026389635842, -0.15865525393145702, -0.15426876936299344, -0.000499601057786089, 0.0, 0.000500398942213911, 0.34573123063700656, 0.841344746068543, 1.9544997361036416, 4.999998566742141, 19.5, 20.5, 30.0], df: [-4.420938404635643e-195, -4.5345679794316694e-91, -7.1469460018034646e-06, -0.08523180107819692, -0.08331547058768635, 0.13250487534383712, 0.4992021157051586, 0.5, 0.5007978842948414, 0.8674951246561629, 1.0833154705876864, 1.085231801078197, 1.000007146946002, 1.0, 1.0, 1.0] };
    pub const GELU_EXACT_F32: Golden = Golden { f: [-0.0, -0.0, -1.1920928955078125e-06, -0.04550027847290039, -0.15865525603294373, -0.1542687714099884, -0.0004996010684408247, 0.0, 0.0005003989790566266, 0.3457312285900116, 0.8413447141647339, 1.9544997215270996, 4.999999046325684, 19.5, 20.5, 30.0], df: [0.0, 0.0, -7.12275505065918e-06, -0.08523187041282654, -0.08331543207168579, 0.1325049102306366, 0.4992021918296814, 0.5, 0.5007978081703186, 0.867495059967041, 1.083315372467041, 1.085231900215149, 1.000007152557373, 1.0, 1.0, 1.0] };
    pub const GELU_TANH_F64: Golden = Golden { f: [-0.0, -0.0, -2.2917961972623857e-07, -0.04540230591222494, -0.1588080093917233, -0.15428599017485606, -0.000499601057786418, 0.0, 0.000500398942213582, 0.34571400982514394, 0.8411919906082768, 1.954597694087775, 4.999999770820381, 19.5, 20.5, 30.0], df: [0.0, 0.0, -1.5463619879596227e-06, -0.0860992566236183, -0.08296408384578258, 0.13263009646535764, 0.499202115706475, 0.5, 0.500797884293525, 0.8673699035346424, 1.0829640838457826, 1.0860992566236183, 1.000001546361988, 1.0, 1.0, 1.0] };
    pub const GELU_TANH_F32: Golden = Golden { f: [-0.0, -0.0, -2.980232238769531e-07, -0.04540228843688965, -0.15880799293518066, -0.1542859971523285, -0.0004996010684408247, 0.0, 0.0005003989790566266, 0.3457140028476715, 0.8411920070648193, 1.9545977115631104, 4.999999523162842, 19.5, 20.5, 30.0], df: [0.0, 0.0, -2.010875732594286e-06, -0.08609922230243683, -0.08296409249305725, 0.1326301097869873, 0.4992021322250366, 0.5, 0.5007978677749634, 0.8673698902130127, 1.0829640626907349, 1.0860992670059204, 1.0000020265579224, 1.0, 1.0, 1.0] };
    pub const SILU_F64: Golden = Golden { f: [-2.8072868906517896e-12, -2.562813372888914e-08, -0.03346425462142428, -0.2384058440442351, -0.2689414213699951, -0.1887703343990727, -0.0004997500000208334, 0.0, 0.0005002499999791667, 0.3112296656009273, 0.7310585786300049, 1.7615941559557646, 4.966535745378576, 19.499999933733775, 20.499999974371867, 29.999999999997197], df: [-2.713710660963134e-12, -2.4377980832026195e-08, -0.026547432429665917, -0.09078424878489547, 0.07232948812851325, 0.2600388126973482, 0.4995000000833333, 0.5, 0.5004999999166666, 0.7399611873026519, 0.9276705118714869, 1.0907842487848955, 1.0265474324296655, 1.0000000628679557, 1.000000024377981, 1.000000000002711] };
    pub const SILU_F32: Golden = Golden { f: [-2.807286954981114e-12, -2.562813250506224e-08, -0.033464252948760986, -0.23840583860874176, -0.2689414322376251, -0.1887703388929367, -0.0004997500218451023, 0.0, 0.000500250025652349, 0.3112296760082245, 0.7310585975646973, 1.7615940570831299, 4.966535568237305, 19.5, 20.5, 30.0], df: [-2.7137107665164972e-12, -2.4377980523127007e-08, -0.02654743380844593, -0.09078425168991089, 0.07232948392629623, 0.260038822889328, 0.49950000643730164, 0.5, 0.500499963760376, 0.7399612069129944, 0.9276705384254456, 1.0907843112945557, 1.0265474319458008, 1.0, 1.0, 1.0] };
    pub const SOFTPLUS_F64: Golden = Golden { f: [9.357622968839737e-14, 1.2501528656053017e-09, 0.006715348489118068, 0.1269280110429725, 0.31326168751822286, 0.4740769841801067, 0.6926473055599401, 0.6931471805599453, 0.6936473055599401, 0.9740769841801067, 1.3132616875182228, 2.1269280110429727, 5.006715348489118, 19.500000003398267, 20.5, 30.0], df: [9.3576229688393e-14, 1.2501528648238605e-09, 0.006692850924284856, 0.11920292202211755, 0.2689414213699951, 0.37754066879814546, 0.49975000002083336, 0.5, 0.5002499999791666, 0.6224593312018546, 0.7310585786300049, 0.8807970779778824, 0.9933071490757152, 0.9999999966017322, 1.0, 1.0] };
    pub const SOFTPLUS_F32: Golden = Golden { f: [9.357622912219837e-14, 1.2501528701136522e-09, 0.006715348456054926, 0.12692800164222717, 0.3132616877555847, 0.4740769863128662, 0.6926472783088684, 0.6931471824645996, 0.6936473250389099, 0.9740769863128662, 1.31326162815094, 2.1269280910491943, 5.006715297698975, 19.5, 20.5, 30.0], df: [9.357622912219837e-14, 1.2501528701136522e-09, 0.006692850962281227, 0.11920291930437088, 0.2689414322376251, 0.3775406777858734, 0.4997499883174896, 0.5, 0.5002500414848328, 0.622459352016449, 0.7310585975646973, 0.8807970881462097, 0.9933071732521057, 1.0, 1.0, 1.0] };
}
use golden::*;

/// Tolerance: 4 units in the last place of f64 (8 of f32) relative to PyTorch's value, plus, for
/// GELU, PyTorch's own rounding where its `1 + erf(z / sqrt 2)` cancels (about one unit
/// of 1, times `|z|`): there the crate's `erfc` form is the more accurate of the two.
fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs() + 1e-300
}

/// `f(Z)` and `f'(Z)` (through `backward` with an upstream gradient of ones), in `T`.
fn eval<T: Float>(f: &dyn Activation<T>) -> (Vec<f64>, Vec<f64>) {
    let z = DMatrix::from_iterator(1, 16, Z.iter().map(|&v| T::of(v)));
    let mut a = z.clone();
    f.forward(a.as_view_mut());
    let mut d = DMatrix::from_element(1, 16, T::one());
    let from = if f.needs_input() { &z } else { &a };
    f.backward(from.as_view(), d.as_view_mut());
    (
        a.iter().map(|v| v.as_f64()).collect(),
        d.iter().map(|v| v.as_f64()).collect(),
    )
}

fn check<T: Float>(name: &str, f: &dyn Activation<T>, golden: &Golden, rel: f64) {
    check_within(name, f, golden, rel, 0.0);
}

/// [`check`], also allowing `cancel * max(1, |z|)` absolute.
fn check_within<T: Float>(
    name: &str,
    f: &dyn Activation<T>,
    golden: &Golden,
    rel: f64,
    cancel: f64,
) {
    let (a, d) = eval(f);
    for k in 0..16 {
        let close = |got: f64, want: f64| {
            close(got, want, rel) || (got - want).abs() <= cancel * Z[k].abs().max(1.0)
        };
        assert!(
            close(a[k], golden.f[k]),
            "{name} {}: f({}) = {:e}, PyTorch {:e}",
            T::NAME,
            Z[k],
            a[k],
            golden.f[k]
        );
        assert!(
            close(d[k], golden.df[k]),
            "{name} {}: f'({}) = {:e}, PyTorch {:e}",
            T::NAME,
            Z[k],
            d[k],
            golden.df[k]
        );
    }
}

const F64_REL: f64 = 4.0 * f64::EPSILON;
const F32_REL: f64 = 8.0 * f32::EPSILON as f64;

#[test]
fn leaky_relu_matches_pytorch() {
    check::<f64>(
        "LeakyRelu",
        &LeakyRelu::default(),
        &LEAKY_RELU_DEFAULT_F64,
        F64_REL,
    );
    check::<f32>(
        "LeakyRelu",
        &LeakyRelu::default(),
        &LEAKY_RELU_DEFAULT_F32,
        F32_REL,
    );
    let f = LeakyRelu::new(0.2).unwrap();
    check::<f64>("LeakyRelu(0.2)", &f, &LEAKY_RELU_0_2_F64, F64_REL);
    check::<f32>("LeakyRelu(0.2)", &f, &LEAKY_RELU_0_2_F32, F32_REL);
}

#[test]
fn elu_matches_pytorch() {
    check::<f64>("Elu", &Elu::default(), &ELU_DEFAULT_F64, F64_REL);
    check::<f32>("Elu", &Elu::default(), &ELU_DEFAULT_F32, F32_REL);
    let f = Elu::new(0.5).unwrap();
    check::<f64>("Elu(0.5)", &f, &ELU_0_5_F64, F64_REL);
    check::<f32>("Elu(0.5)", &f, &ELU_0_5_F32, F32_REL);
}

#[test]
fn gelu_matches_pytorch() {
    // One unit of 1 in PyTorch's cancelling sum 1 + erf, for each float type.
    check_within::<f64>("Gelu", &Gelu::Exact, &GELU_EXACT_F64, F64_REL, f64::EPSILON);
    check_within::<f32>(
        "Gelu",
        &Gelu::Exact,
        &GELU_EXACT_F32,
        F32_REL,
        f32::EPSILON as f64,
    );
    // The tanh form cancels the same way in 1 + tanh(u), where tanh rounds differently.
    check_within::<f64>(
        "Gelu(tanh)",
        &Gelu::Tanh,
        &GELU_TANH_F64,
        F64_REL,
        f64::EPSILON,
    );
    check_within::<f32>(
        "Gelu(tanh)",
        &Gelu::Tanh,
        &GELU_TANH_F32,
        F32_REL,
        f32::EPSILON as f64,
    );
}

#[test]
fn silu_matches_pytorch() {
    check::<f64>("Silu", &Silu, &SILU_F64, F64_REL);
    check::<f32>("Silu", &Silu, &SILU_F32, F32_REL);
}

#[test]
fn softplus_matches_pytorch() {
    check::<f64>("Softplus", &Softplus, &SOFTPLUS_F64, F64_REL);
    check::<f32>("Softplus", &Softplus, &SOFTPLUS_F32, F32_REL);
}

/// Points away from the kinks of LeakyRelu and Elu at 0 (finite differences straddling a kink
/// disagree with either one-sided slope) and from Softplus's switch at 20.
const SMOOTH: [f64; 12] = [
    -6.0, -3.1, -1.7, -0.9, -0.4, -0.05, 0.05, 0.3, 0.8, 1.6, 3.2, 7.5,
];

/// Runs `$body` with `$f` bound to each new activation, with its default and one other setting.
macro_rules! each_new_activation {
    ($f:ident => $body:block) => {{
        {
            let $f = LeakyRelu::default();
            $body
        }
        {
            let $f = LeakyRelu::new(-0.3).unwrap();
            $body
        }
        {
            let $f = Elu::default();
            $body
        }
        {
            let $f = Elu::new(2.5).unwrap();
            $body
        }
        {
            let $f = Gelu::Exact;
            $body
        }
        {
            let $f = Gelu::Tanh;
            $body
        }
        {
            let $f = Silu;
            $body
        }
        {
            let $f = Softplus;
            $body
        }
    }};
}

#[test]
fn every_new_activation_passes_the_gradient_check() {
    let z = DMatrix::from_row_slice(2, 6, &SMOOTH);
    let upstream = DMatrix::from_fn(2, 6, |r, c| 0.5 + 0.25 * (r * 6 + c) as f64);
    each_new_activation!(f => {
        let report = gradcheck::check_activation(&f, &z, &upstream).unwrap();
        assert!(report.max_rel() < 1e-6, "{f:?}: {}", report.max_rel());
    });
}

/// A network with the activation in its hidden layer and at its output: the model hands the
/// kept `z` to the derivative at both places (from the output the gradients would be wrong).
#[test]
fn a_model_backpropagates_through_the_kept_input() {
    let x = DMatrix::from_row_slice(3, 2, &[0.3, -1.2, 1.5, 0.7, -0.8, -0.1]);
    let y = DMatrix::from_row_slice(3, 1, &[0.5, -0.2, 0.1]);
    let w1 = DMatrix::from_row_slice(2, 4, &[0.9, -0.6, 0.35, 1.3, -0.45, 0.8, -1.1, 0.55]);
    let w2 = DMatrix::from_row_slice(4, 1, &[0.7, -0.9, 0.4, 1.2]);
    let b1 = DMatrix::from_row_slice(1, 4, &[0.1, -0.2, 0.15, -0.05]);
    each_new_activation!(f => {
        let mut model = Sequential::builder(2)
            .add(Dense::from_weights(w1.clone(), Some(b1.clone())).unwrap().with_activation(f))
            .add(Dense::from_weights(w2.clone(), None).unwrap().with_activation(f))
            .build()
            .unwrap();
        let report = gradcheck::check_model(&mut model, &x, &y).unwrap();
        assert!(report.max_rel() < 1e-6, "{f:?}: {}", report.max_rel());
    });
}
