//! Everything that takes a generator works with `backprop::rand` alone: its generators, its
//! traits, and a generator a user writes against them (no `rand` of the user's own needed).

use backprop::data::Dataset;
use backprop::prelude::*;
use backprop::rand::rngs::SmallRng;
use backprop::rand::{Rng, RngExt, SeedableRng, TryRng};
use nalgebra::DMatrix;

/// A user's own generator, written against the re-exported traits: counts up by an odd step.
struct Counter(u64);

impl TryRng for Counter {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        Ok(self.0)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let w = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
        Ok(())
    }
}

/// Ten rows: input `r`, target `10 r`, so that a row's pairing can be checked after a shuffle.
fn rows() -> Dataset<f64> {
    let x = DMatrix::from_fn(10, 1, |r, _| r as f64);
    let y = DMatrix::from_fn(10, 1, |r, _| 10.0 * r as f64);
    Dataset::new(x, y).unwrap()
}

/// The inputs in order, as integers.
fn order(data: &Dataset<f64>) -> Vec<u32> {
    data.inputs().iter().map(|&v| v as u32).collect()
}

fn shuffled_is_a_permutation(rng: &mut impl Rng) -> Vec<u32> {
    let mut data = rows();
    data.shuffle(rng);
    let got = order(&data);
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..10).collect::<Vec<_>>());
    for r in 0..10 {
        assert_eq!(data.targets()[(r, 0)], 10.0 * data.inputs()[(r, 0)]);
    }
    got
}

#[test]
fn the_reexported_generators_drive_shuffle_and_split() {
    let a = shuffled_is_a_permutation(&mut SmallRng::seed_from_u64(3));
    let b = shuffled_is_a_permutation(&mut SmallRng::seed_from_u64(3));
    assert_eq!(a, b, "one seed, one order");
    assert_ne!(a, (0..10).collect::<Vec<_>>(), "the rows moved");

    let (train, test) = rows().split(0.3, &mut SmallRng::seed_from_u64(1)).unwrap();
    assert_eq!((train.len(), test.len()), (7, 3));
    let labels = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1];
    let (train, test) = (rows())
        .stratified_split(&labels, 0.4, &mut SmallRng::seed_from_u64(2))
        .unwrap();
    assert_eq!((train.len(), test.len()), (6, 4));
}

#[test]
fn a_generator_written_against_the_reexported_traits_works_everywhere() {
    let mut rng = Counter(0);
    let x: f64 = rng.random();
    assert!((0.0..1.0).contains(&x));
    shuffled_is_a_permutation(&mut Counter(7));
    let w: Matrix<f64> = GlorotUniform.weights(3, 4, &mut Counter(1)).unwrap();
    let a = (6.0f64 / 7.0).sqrt();
    assert!(w.iter().all(|v| v.abs() <= a), "{w}");
    assert!(w.iter().any(|&v| v != w[0]), "{w}");
    let model = Sequential::<f64>::builder(2)
        .dense(3, Tanh)
        .build()
        .unwrap();
    assert_eq!(model.output_size(), 3);
}
