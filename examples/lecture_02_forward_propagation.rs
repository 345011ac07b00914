//! Lecture notebook (seed 004), "Sigmoid Neuron" and "Building one iteration of forward
//! propogation from scratch", up to the sigmoid output layer of "Output Layer".
//!
//! > For forward propogation in our network, each neuron collects its inputs and sums their
//! > magnitudes adjusted by the weights, adds a bias, and translates it via the sigmoid function
//! > into an output signal between 0 and 1.
//!
//! The notebook loads the 8x8 digits, seeds NumPy with 42, and draws `w_1` with
//! `np.random.uniform(-.1,.1,64)` for one sigmoid neuron and `np.random.uniform(-.1,.1,(64,4))`
//! for four; it prints `z_1 = w_1.T.dot(images.T) + b_1` and `a_1 = sigmoid(z_1)`, then adds a
//! sigmoid output that says even or odd: seed 42 again, `w_2 = np.random.uniform(-.1,.1,(4,1))`,
//! `z_2 = w_2.T.dot(z_1)`, `a_2 = sigmoid(z_2 + beta_2)`, `y_hat = (a_2 > .5)`, and
//! `y_hat.sum()` prints `137`.
//!
//! Here the draws come from [`NumpyRng`] (NumPy's generator, row-major order), the products from
//! [`Dense`] layers in a [`Sequential`], and the sigmoid from [`Sigmoid`]. Every array is printed
//! as NumPy prints it, so the output can be read line by line next to the notebook's.
//!
//! Two things to know when comparing:
//!
//! - The crate keeps one sample per row (as the book does), so its `z_1` is `images . w_1`, the
//!   notebook's `z_1.T`; it is printed transposed to look like the notebook's.
//! - The notebook feeds `z_1`, not `a_1`, into its output layer (`z_2 = w_2.T.dot(z_1)`). That is
//!   reproduced as written: the network here has a hidden layer without activation, and gives
//!   `137`. With the sigmoid neurons' outputs `a_1` fed forward instead, as the text intends, the
//!   count is different; the example prints both.
//!
//! ```text
//! cargo run --example lecture_02_forward_propagation
//! ```

mod lecture_common;

use backprop::prelude::*;
use lecture_common::numpy::{array_repr, int_array_repr_1d};
use lecture_common::{SEED, digits_data, even, uniform};

/// Prints a notebook cell: the code, then what it shows.
fn cell(code: &str, output: &str) {
    println!(">>> {code}\n{output}\n");
}

/// `sigmoid(z)`, element-wise, by the crate's [`Sigmoid`].
fn sigmoid(z: &Matrix<f64>) -> Matrix<f64> {
    let mut a = z.clone();
    Sigmoid.forward(a.as_view_mut());
    a
}

/// `(a > .5).astype(int).sum()`
fn count_above_half(a: &Matrix<f64>) -> usize {
    a.iter().filter(|&&v| v > 0.5).count()
}

fn main() -> Result<()> {
    // digits = load_digits()
    let (images, target) = digits_data()?;
    let eight_by_eight_image = Matrix::from_row_slice(8, 8, images.row(0).transpose().as_slice());
    cell("eight_by_eight_image", &array_repr(&eight_by_eight_image));
    let flat_image = images.row(0).transpose();
    cell(
        "eight_by_eight_image.reshape(-1,1)",
        &array_repr(&flat_image),
    );
    cell("images", &array_repr(&images));
    cell("images.T", &array_repr(&images.transpose()));

    // One sigmoid neuron: np.random.seed(42); w_1 = np.random.uniform(-.1,.1,64).reshape(-1,1)
    let mut rng = NumpyRng::new(SEED);
    let w_1 = uniform(&mut rng, -0.1, 0.1, 64, 1);
    cell("w_1[:10]", &array_repr(&w_1.rows(0, 10)));
    cell(
        "images.T[-5:]",
        &array_repr(&images.columns(59, 5).transpose()),
    );

    // z_1 = w_1.T.dot(images.T) + b_1, with b_1 = 0: a dense layer from 64 pixels to 1 neuron.
    let b_1 = Matrix::zeros(1, 1);
    let neuron = Sequential::builder(64)
        .add(Dense::from_weights(w_1, Some(b_1))?)
        .build()?;
    let z_1 = neuron.predict(&images)?;
    cell("w_1.T.dot(images.T)", &array_repr(&z_1.transpose()));
    let a_1 = sigmoid(&z_1);
    cell("a_1 = sigmoid(z_1)", &array_repr(&a_1.transpose()));

    // Four neurons: np.random.seed(42); w_1 = np.random.uniform(-.1,.1, (64,4))
    let mut rng = NumpyRng::new(SEED);
    let w_1 = uniform(&mut rng, -0.1, 0.1, 64, 4);
    cell("w_1", &array_repr(&w_1));
    // b_1 = np.zeros((4, 1)); z_1 = w_1.T.dot(images.T) + b_1
    let b_1 = Matrix::zeros(1, 4);
    let hidden = Dense::from_weights(w_1.clone(), Some(b_1.clone()))?;
    let layer_1 = Sequential::builder(64).add(hidden).build()?;
    let z_1 = layer_1.predict(&images)?;
    // a_1 = sigmoid(z_1 + b_1): b_1 is zero, so adding it a second time changes nothing.
    let a_1 = sigmoid(&z_1);
    cell("a_1 = sigmoid(z_1+b_1)", &array_repr(&a_1.transpose()));

    // y_true = (digits.target % 2 == 0).astype(int)
    let y_true = even(&target);
    cell("y_true", &int_array_repr_1d(&y_true));
    let (rows, cols) = z_1.transpose().shape();
    cell("z_1.shape", &format!("({rows}, {cols})"));

    // np.random.seed(42); w_2 = np.random.uniform(-.1,.1,(4,1)); beta_2 = 0
    let mut rng = NumpyRng::new(SEED);
    let w_2 = uniform(&mut rng, -0.1, 0.1, 4, 1);
    let beta_2 = Matrix::zeros(1, 1);
    // The network as the notebook runs it: z_2 = w_2.T.dot(z_1), so the hidden layer passes z_1
    // on without its sigmoid; a_2 = sigmoid(z_2 + beta_2).
    let as_written = Sequential::builder(64)
        .add(Dense::from_weights(w_1.clone(), Some(b_1.clone()))?)
        .add(Dense::from_weights(w_2.clone(), Some(beta_2.clone()))?.with_activation(Sigmoid))
        .build()?;
    let a_2 = as_written.predict(&images)?;
    // y_hat = (a_2 > .5).astype(int)
    let y_hat: Vec<i64> = a_2.iter().map(|&v| i64::from(v > 0.5)).collect();
    cell("y_hat.sum()", &y_hat.iter().sum::<i64>().to_string());

    let agree = y_hat.iter().zip(&y_true).filter(|(a, b)| a == b).count();
    println!(
        "The untrained network calls {} of {} images even and agrees with y_true on {agree}.",
        count_above_half(&a_2),
        a_2.nrows()
    );

    // The network the text describes: the sigmoid neurons' outputs a_1 feed the output layer.
    let intended = Sequential::builder(64)
        .add(Dense::from_weights(w_1, Some(b_1))?.with_activation(Sigmoid))
        .add(Dense::from_weights(w_2, Some(beta_2))?.with_activation(Sigmoid))
        .build()?;
    let a_2 = intended.predict(&images)?;
    println!(
        "The notebook feeds z_1 into the output layer (z_2 = w_2.T.dot(z_1)); \
         feeding a_1 = sigmoid(z_1) instead, y_hat.sum() would be {}.",
        count_above_half(&a_2)
    );
    Ok(())
}
