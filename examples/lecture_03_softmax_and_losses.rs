//! Lecture notebook (seed 004), "Output Layer" and "Back Propogation": the softmax output and
//! the three losses.
//!
//! > For our present problem, we would like to make a prediction of a number in the range of 0
//! > through 9. To do so, we use an activation function called Softmax. [...]
//! > For continous outputs, we have become familiar with **Mean Squared Error**. [...]
//! > For multiclass output like the digits, our loss function is called
//! > **categorical_crossentropy**. For binary outcomes, we have **binary_crossentropy**.
//!
//! The notebook names the pairs of output and loss but trains none of them. This example trains
//! one network for each pair on the bundled 8x8 digits (pixels divided by 16), on one 80/20 split
//! that keeps each digit's share in both halves (seed 42):
//!
//! 1. digits, 10 classes: a softmax output (`sigma(x)_j = e^{x_j} / sum_k e^{x_k}`) trained with
//!    [`CategoricalCrossEntropy`]; the prediction is the neuron with the highest value.
//! 2. even or odd: one sigmoid output trained with [`BinaryCrossEntropy`], the notebook's
//!    `y_true = (digits.target % 2 == 0)`.
//! 3. a continuous target with [`Mse`]: the digit's value, 0 to 9, scaled to `[0, 1]`, through a
//!    linear output. The digits have no natural continuous target, and their value is the one
//!    the notebook's data offers; it also shows why classes are not regressed: treating "7" as
//!    nearer to "8" than to "1" is an order the images do not have, so the error stays far above
//!    the classifier's.
//!
//! Each network is `64 -> 32 tanh -> output`, Glorot-uniform weights from seed 42, trained with
//! mini-batch gradient descent (16 rows, alpha 0.1, 30 epochs) by the crate's [`Sequential::fit`].
//!
//! ```text
//! cargo run --release --example lecture_03_softmax_and_losses
//! ```

mod lecture_common;

use backprop::data::argmax_rows;
use backprop::prelude::*;
use lecture_common::{
    ALPHA, BATCH, EPOCHS, SEED, TEST_FRACTION, describe, digits_network, digits_split, train_digits,
};

/// Prints the loss of a few epochs.
fn print_losses(losses: &[f64]) {
    for (epoch, loss) in losses.iter().enumerate() {
        if epoch == 0 || (epoch + 1) % 5 == 0 {
            println!("  epoch {:>2}: loss {loss:.6}", epoch + 1);
        }
    }
}

/// The fraction of rows where `pred` and `goal` agree.
fn accuracy(pred: &[usize], goal: &[usize]) -> f64 {
    let right = pred.iter().zip(goal).filter(|(p, g)| p == g).count();
    right as f64 / goal.len() as f64
}

fn main() -> Result<()> {
    let split = digits_split(SEED)?;
    let (x_train, y_train) = (split.train.inputs(), split.train.targets());
    let (x_test, y_test) = (split.test.inputs(), split.test.targets());
    let (train_labels, test_labels) = (argmax_rows(y_train), argmax_rows(y_test));
    println!(
        "8x8 digits: {} training and {} test images ({}% held out per digit, seed {SEED})",
        x_train.nrows(),
        x_test.nrows(),
        TEST_FRACTION * 100.0
    );
    println!("mini-batch gradient descent: {BATCH} rows, alpha {ALPHA}, {EPOCHS} epochs\n");

    // 1. Softmax output, categorical cross-entropy.
    let mut model = digits_network(10, Softmax, CategoricalCrossEntropy)?;
    println!("Digits 0-9: {}", describe(&model));
    let losses = train_digits(&mut model, x_train, y_train)?;
    print_losses(&losses);
    let probabilities = model.predict(x_test)?;
    let row: Vec<String> = probabilities
        .row(0)
        .iter()
        .map(|p| format!("{p:.3}"))
        .collect();
    println!(
        "  softmax of the first test image (a {}): [{}], sum {:.6}",
        test_labels[0],
        row.join(", "),
        probabilities.row(0).sum()
    );
    let predicted = argmax_rows(&probabilities);
    println!(
        "  test accuracy {:.4} (train {:.4}), test loss {:.6}\n",
        accuracy(&predicted, &test_labels),
        accuracy(&argmax_rows(&model.predict(x_train)?), &train_labels),
        model.evaluate(x_test, y_test)?
    );

    // 2. Sigmoid output, binary cross-entropy: y_true = (digits.target % 2 == 0).astype(int)
    let even = |labels: &[usize]| {
        Matrix::from_iterator(
            labels.len(),
            1,
            labels.iter().map(|&l| f64::from(l % 2 == 0)),
        )
    };
    let (y_true_train, y_true_test) = (even(&train_labels), even(&test_labels));
    let mut model = digits_network(1, Sigmoid, BinaryCrossEntropy)?;
    println!("Even or odd: {}", describe(&model));
    let losses = train_digits(&mut model, x_train, &y_true_train)?;
    print_losses(&losses);
    // y_hat = (a_2 > .5).astype(int)
    let y_hat: Vec<usize> = model
        .predict(x_test)?
        .iter()
        .map(|&a| usize::from(a > 0.5))
        .collect();
    let goal: Vec<usize> = y_true_test.iter().map(|&y| y as usize).collect();
    println!(
        "  test accuracy {:.4}, test loss {:.6}\n",
        accuracy(&y_hat, &goal),
        model.evaluate(x_test, &y_true_test)?
    );

    // 3. Linear output, mean squared error: the digit's value, scaled to [0, 1].
    let value = |labels: &[usize]| {
        Matrix::from_iterator(labels.len(), 1, labels.iter().map(|&l| l as f64 / 9.0))
    };
    let (value_train, value_test) = (value(&train_labels), value(&test_labels));
    let mut model = digits_network(1, Identity, Mse)?;
    println!("The digit's value / 9: {}", describe(&model));
    let losses = train_digits(&mut model, x_train, &value_train)?;
    print_losses(&losses);
    let mse = model.evaluate(x_test, &value_test)?;
    let mean = value_train.mean();
    let baseline =
        value_test.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / value_test.len() as f64;
    let pred = model.predict(x_test)?;
    let rounded: Vec<usize> = pred
        .iter()
        .map(|p| (p * 9.0).round().clamp(0.0, 9.0) as usize)
        .collect();
    println!(
        "  test MSE {mse:.6} (always guessing the training mean: {baseline:.6}); \
         in digits, RMSE {:.3}",
        mse.sqrt() * 9.0
    );
    println!(
        "  rounded to the nearest digit, {:.4} of the test images come out right",
        accuracy(&rounded, &test_labels)
    );
    Ok(())
}
