//! Classify a CSV file with a header and string labels: Fisher's iris flowers.
//!
//! ```text
//! cargo run --release --example iris [-- path/to/file.csv]
//! ```
//!
//! Reads `data/iris.csv` (four measurements and a `species` column of names), splits it 80/20
//! stratified by class, standardizes the inputs with statistics of the training rows only, and
//! trains a 4-16-3 softmax network with Adam on shuffled mini-batches. A stratified fifth of the
//! training rows is held out for validation, and early stopping keeps the weights of the epoch
//! with the lowest validation loss, which a checkpoint file also holds. Prints the model, the
//! training's end, and scikit-learn's `classification_report` of the test rows with the class
//! names from the file.

use backprop::data::{LabelColumn, Standardizer, read_labelled_csv};
use backprop::metrics::confusion_matrix;
use backprop::prelude::*;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or("data/iris.csv".into());
    // Inputs, class indices and class names (sorted: setosa, versicolor, virginica) in one call.
    let iris = read_labelled_csv::<f64>(&path, LabelColumn::Name("species".into()), true)?;
    println!("{path}: {} rows, classes {:?}", iris.len(), iris.classes());

    // The file is sorted by class: a stratified split keeps a third of each class in both parts.
    let data = iris.to_dataset_one_hot()?;
    let (train, test) = data.stratified_split(iris.labels(), 0.2, &mut NumpyRng::new(7))?;
    let scaler = Standardizer::fit(train.inputs())?;
    let (x_train, x_test) = (
        scaler.transform(train.inputs())?,
        scaler.transform(test.inputs())?,
    );

    let mut model = Sequential::<f64>::builder(4)
        .seed(0)
        .dense(16, Relu)
        .dense(3, Softmax)
        .loss(CategoricalCrossEntropy)
        .build()?;
    println!("{}", model.summary());

    let checkpoint =
        std::env::temp_dir().join(format!("iris-best-{}.safetensors", std::process::id()));
    let fit = Fit::new(300)
        .mini_batch(16)
        .shuffle(1)
        .validation_split(0.2)
        .stratify(true)
        .early_stopping(EarlyStopping::new(25).restore_best(true))
        .checkpoint(&checkpoint)
        .accuracy(true);
    let history = model.fit(&x_train, train.targets(), &mut Adam::new(0.01)?, &fit)?;
    let best = history.best_epoch.unwrap_or(history.loss.len() - 1);
    println!(
        "trained {} epochs; best epoch {best}: validation loss {:.4}, accuracy {:.3}",
        history.loss.len(),
        history.val_loss[best],
        history.val_accuracy[best],
    );

    // The checkpoint holds the best epoch's model, which early stopping restored.
    let saved = Sequential::<f64>::load(&checkpoint)?;
    std::fs::remove_file(&checkpoint)?;
    println!(
        "the checkpoint predicts as the restored model: {}",
        saved.predict(&x_test)? == model.predict(&x_test)?
    );

    let report = confusion_matrix(&model.predict(&x_test)?, test.targets())?
        .with_names(iris.classes())?
        .report();
    println!("test rows:\n{report}");
    Ok(())
}
