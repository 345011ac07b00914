//! Everyday use: a labelled CSV, the classification report, predicted classes, stratified
//! validation, the model summary, evaluation with accuracy, and the builder's pairing checks.

use backprop::Error;
use backprop::data::{LabelColumn, LabelEncoder, parse_labelled_csv, read_labelled_csv};

// ---------------------------------------------------------------------------------------------
// Labelled CSV
// ---------------------------------------------------------------------------------------------

const IRIS: &str = "\u{feff}sepal length, petal length ,species\r\n\
                    5.1,1.4,Iris-setosa\r\n\
                    \r\n\
                    7.0,4.7,Iris-versicolor\r\n\
                    6.3,6.0, Iris-virginica\r\n\
                    4.9,1.4,Iris-setosa\r\n";

#[test]
fn labelled_csv_gives_inputs_indices_and_sorted_class_names() {
    let data = parse_labelled_csv::<f64>(IRIS, LabelColumn::Name("species".into()), true).unwrap();
    assert_eq!(data.inputs().shape(), (4, 2));
    assert_eq!(
        data.inputs().row(2).iter().copied().collect::<Vec<_>>(),
        [6.3, 6.0]
    );
    assert_eq!(data.labels(), [0, 1, 2, 0]);
    assert_eq!(
        data.classes(),
        ["Iris-setosa", "Iris-versicolor", "Iris-virginica"]
    );
    assert_eq!(
        data.feature_names().unwrap(),
        ["sepal length", "petal length"]
    );
    // The same file with the label chosen by position.
    let last = parse_labelled_csv::<f64>(IRIS, LabelColumn::Last, true).unwrap();
    let index = parse_labelled_csv::<f64>(IRIS, LabelColumn::Index(2), true).unwrap();
    assert_eq!(last, data);
    assert_eq!(index, data);

    let goal = data.one_hot().unwrap();
    assert_eq!(goal.shape(), (4, 3));
    assert_eq!(
        goal.row(1).iter().copied().collect::<Vec<_>>(),
        [0.0, 1.0, 0.0]
    );
    let set = data.to_dataset_one_hot().unwrap();
    assert_eq!(set.targets(), &goal);
}

#[test]
fn integer_labels_sort_by_value_and_any_spelling_finds_them() {
    let data =
        parse_labelled_csv::<f32>("10,0.5\n2,1.5\n-1,2.5\n+2,3\n", LabelColumn::First, false)
            .unwrap();
    // scikit-learn: LabelEncoder().fit([10, 2, -1, 2]).classes_ == [-1, 2, 10]
    assert_eq!(data.classes(), ["-1", "2", "10"]);
    assert_eq!(data.labels(), [2, 1, 0, 1]);
    assert_eq!(data.inputs().column(0).as_slice(), [0.5, 1.5, 2.5, 3.0]);
    assert_eq!(data.encoder().index("02"), Some(1));
    assert_eq!(data.encoder().index("two"), None);
    assert!(data.feature_names().is_none());
}

#[test]
fn label_encoder_maps_both_ways_and_names_what_it_does_not_know() {
    let enc = LabelEncoder::fit(["b", "a", "B", "b"]).unwrap();
    // Code-point order, as np.unique sorts strings: upper case first.
    assert_eq!(enc.classes(), ["B", "a", "b"]);
    assert_eq!(enc.len(), 3);
    assert_eq!(enc.transform(&["a", "b", "B"]).unwrap(), [1, 2, 0]);
    assert_eq!(enc.inverse_transform(&[0, 2]).unwrap(), ["B", "b"]);
    assert_eq!(enc.name(3), None);
    assert_eq!(
        enc.transform(&["a", "c"]).unwrap_err(),
        Error::UnknownClass {
            row: 1,
            label: "c".into(),
            classes: 3
        }
    );
    assert!(matches!(
        enc.inverse_transform(&[1, 3]),
        Err(Error::InvalidLabel {
            row: 1,
            classes: 3,
            ..
        })
    ));
    assert_eq!(
        LabelEncoder::fit(Vec::<String>::new()),
        Err(Error::Empty { what: "labels" })
    );
}

/// The reason of an [`Error::Format`], or a panic naming what came instead.
fn reason(result: backprop::Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(Error::Format { reason, .. }) => reason,
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn labelled_csv_errors_name_the_line_and_field() {
    let last = || LabelColumn::Last;
    assert_eq!(
        reason(parse_labelled_csv::<f64>(
            "a,b,c\n1,2,x\n1,y,x\n",
            last(),
            true
        )),
        "line 3, field 2: \"y\" is not a number"
    );
    assert_eq!(
        reason(parse_labelled_csv::<f64>("1,2,x\n1,2, \n", last(), false)),
        "line 2, field 3: empty label"
    );
    assert_eq!(
        reason(parse_labelled_csv::<f64>("a,b,c\n1,2\n", last(), true)),
        "line 2 has 2 fields, but line 1 (the header) has 3"
    );
    assert_eq!(
        reason(parse_labelled_csv::<f32>("1e300,x\n", last(), false)),
        "line 1, field 1: \"1e300\" is out of range for f32"
    );
    assert_eq!(
        reason(parse_labelled_csv::<f64>("inf,x\n", last(), false)),
        "line 1, field 1: \"inf\" is not a finite number"
    );
    assert_eq!(
        reason(parse_labelled_csv::<f64>(
            "a,b\n1,x\n",
            LabelColumn::Name("label".into()),
            true
        )),
        "no column named \"label\" in the header [\"a\", \"b\"]"
    );
    assert!(
        reason(parse_labelled_csv::<f64>(
            "1,x\n",
            LabelColumn::Name("b".into()),
            false
        ))
        .contains("without a header")
    );
    assert!(matches!(
        parse_labelled_csv::<f64>("1,x\n", LabelColumn::Index(2), false),
        Err(Error::InvalidParameter {
            name: "label column",
            ..
        })
    ));
    assert!(matches!(
        parse_labelled_csv::<f64>("x\ny\n", last(), false),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        parse_labelled_csv::<f64>("a,b\n\n", last(), true),
        Err(Error::Empty { what: "CSV data" })
    ));
    assert!(matches!(
        parse_labelled_csv::<f64>(" \n", last(), false),
        Err(Error::Empty { what: "CSV data" })
    ));
}

#[test]
fn labelled_csv_file_errors_name_the_path() {
    let dir = std::env::temp_dir();
    let path = dir.join(format!("backprop-everyday-{}.csv", std::process::id()));
    std::fs::write(&path, b"1,\xff\n").unwrap();
    let err = read_labelled_csv::<f64>(&path, LabelColumn::Last, false).unwrap_err();
    assert!(
        matches!(&err, Error::Format { path: p, reason } if p.ends_with(".csv") && reason.contains("UTF-8"))
    );
    std::fs::write(&path, "1,x\n2,y\n").unwrap();
    let data = read_labelled_csv::<f64>(&path, LabelColumn::Last, false).unwrap();
    assert_eq!(data.labels(), [0, 1]);
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        read_labelled_csv::<f64>(&path, LabelColumn::Last, false),
        Err(Error::Io { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Classification report
// ---------------------------------------------------------------------------------------------

mod report {
    use backprop::Error;
    use backprop::metrics::{ConfusionMatrix, confusion_matrix};
    use nalgebra::DMatrix;

    // The example and every value below come from tests/golden/classification_report.py
    // (scikit-learn 1.9.1, `labels=range(4)`, `zero_division=0`).
    const NAMES: [&str; 4] = ["bird", "cat", "dog", "fish"];
    const Y_TRUE: [usize; 12] = [1, 1, 1, 1, 2, 2, 2, 0, 3, 3, 2, 1];
    const Y_PRED: [usize; 12] = [1, 1, 2, 0, 2, 2, 1, 0, 2, 1, 2, 1];
    const CONFUSION: [[usize; 4]; 4] = [[1, 0, 0, 0], [1, 3, 1, 0], [0, 1, 3, 0], [0, 1, 1, 0]];
    const PRECISION: [f64; 4] = [0.5, 0.6, 0.6, 0.0];
    const RECALL: [f64; 4] = [1.0, 0.6, 0.75, 0.0];
    const F1: [f64; 4] = [0.6666666666666666, 0.6, 0.6666666666666666, 0.0];
    const SUPPORT: [usize; 4] = [1, 5, 4, 2];
    const ACCURACY: f64 = 0.5833333333333334;
    const MACRO_AVG: [f64; 3] = [0.42500000000000004, 0.5875, 0.4833333333333333];
    const WEIGHTED_AVG: [f64; 3] = [0.4916666666666667, 0.5833333333333334, 0.5277777777777778];
    /// `print(classification_report(Y_TRUE, Y_PRED, labels=range(4), target_names=NAMES))`.
    const TEXT: &str = "              precision    recall  f1-score   support

        bird       0.50      1.00      0.67         1
         cat       0.60      0.60      0.60         5
         dog       0.60      0.75      0.67         4
        fish       0.00      0.00      0.00         2

    accuracy                           0.58        12
   macro avg       0.43      0.59      0.48        12
weighted avg       0.49      0.58      0.53        12
";

    /// Within a few units in the last place: the sums may be taken in another order.
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 4.0 * f64::EPSILON * b.abs()
    }

    fn golden() -> ConfusionMatrix {
        ConfusionMatrix::from_labels(&Y_TRUE, &Y_PRED, 4)
            .unwrap()
            .with_names(&NAMES)
            .unwrap()
    }

    #[test]
    fn matches_scikit_learn_on_a_fixed_example() {
        let cm = golden();
        for (a, row) in CONFUSION.iter().enumerate() {
            for (p, &n) in row.iter().enumerate() {
                assert_eq!(cm.count(a, p), n, "count({a}, {p})");
            }
        }
        let report = cm.report();
        assert_eq!(report.names, NAMES);
        for c in 0..4 {
            let s = report.per_class[c];
            assert!(close(s.precision, PRECISION[c]), "precision {c}: {s:?}");
            assert!(close(s.recall, RECALL[c]), "recall {c}: {s:?}");
            assert!(close(s.f1, F1[c]), "f1 {c}: {s:?}");
            assert_eq!(s.support, SUPPORT[c]);
        }
        assert!(close(report.accuracy, ACCURACY));
        for (avg, golden) in [
            (report.macro_avg, MACRO_AVG),
            (report.weighted_avg, WEIGHTED_AVG),
        ] {
            assert!(close(avg.precision, golden[0]), "{avg:?}");
            assert!(close(avg.recall, golden[1]), "{avg:?}");
            assert!(close(avg.f1, golden[2]), "{avg:?}");
            assert_eq!(avg.support, 12);
        }
        assert_eq!(report.to_string(), TEXT);
    }

    #[test]
    fn names_label_the_matrix_and_must_fit_the_classes() {
        let text = golden().to_string();
        assert!(
            text.lines().next().unwrap().contains("bird  cat  dog fish"),
            "{text}"
        );
        assert!(
            text.lines()
                .nth(3)
                .unwrap()
                .trim_start()
                .starts_with("cat |"),
            "{text}"
        );
        assert!(matches!(
            ConfusionMatrix::from_labels(&[0], &[0], 2)
                .unwrap()
                .with_names(&["a"]),
            Err(Error::Shape {
                expected: (2, 1),
                actual: (1, 1),
                ..
            })
        ));
        // The same counts as from prediction matrices.
        let probs = DMatrix::from_fn(12, 4, |r, c| if Y_PRED[r] == c { 0.9 } else { 0.0 });
        let labels = DMatrix::from_fn(12, 1, |r, _| Y_TRUE[r] as f64);
        let from_matrices = confusion_matrix(&probs, &labels).unwrap();
        assert_eq!(from_matrices.with_names(&NAMES).unwrap(), golden());
    }

    #[test]
    fn zero_division_gives_zero_and_bad_labels_are_errors() {
        // Class 2 neither occurs nor is predicted; class 1 is never predicted.
        let cm = ConfusionMatrix::from_labels(&[0, 1], &[0, 0], 3).unwrap();
        assert_eq!((cm.precision(1), cm.recall(1), cm.f1(1)), (0.0, 0.0, 0.0));
        assert_eq!((cm.precision(2), cm.recall(2), cm.f1(2)), (0.0, 0.0, 0.0));
        assert_eq!(cm.report().macro_avg.recall, 1.0 / 3.0);
        assert!(matches!(
            ConfusionMatrix::from_labels(&[0, 1], &[0, 3], 3),
            Err(Error::InvalidLabel {
                row: 1,
                classes: 3,
                ..
            })
        ));
        assert!(matches!(
            ConfusionMatrix::from_labels(&[0, 1], &[0], 3),
            Err(Error::Shape { .. })
        ));
        assert!(matches!(
            ConfusionMatrix::from_labels(&[], &[], 3),
            Err(Error::Empty { .. })
        ));
        assert!(matches!(
            ConfusionMatrix::from_labels(&[0], &[0], 0),
            Err(Error::InvalidParameter { .. })
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Predicted classes and stratified validation
// ---------------------------------------------------------------------------------------------

mod classes {
    use backprop::data::stratified_rows;
    use backprop::prelude::*;
    use nalgebra::DMatrix;

    #[test]
    fn predict_classes_is_the_argmax_or_the_sigmoid_threshold() {
        let mut softmax = Sequential::<f64>::builder(2)
            .bias(false)
            .dense(3, Softmax)
            .build()
            .unwrap();
        softmax
            .set_weights(0, DMatrix::from_row_slice(2, 3, &[1., 0., 1., 0., 1., 0.]))
            .unwrap();
        // Logits [2, 0, 2] tie between columns 0 and 2: the first wins, as numpy's argmax.
        let x = DMatrix::from_row_slice(3, 2, &[2., 0., 0., 2., 1., 1.]);
        assert_eq!(softmax.predict_classes(&x).unwrap(), [0, 1, 0]);

        let mut sigmoid = Sequential::<f32>::builder(1)
            .bias(false)
            .dense(1, Sigmoid)
            .build()
            .unwrap();
        sigmoid
            .set_weights(0, DMatrix::from_element(1, 1, 1.0))
            .unwrap();
        let x = DMatrix::from_column_slice(3, 1, &[-0.1, 0.0, 0.1]);
        assert_eq!(sigmoid.predict_classes(&x).unwrap(), [0, 1, 1]);
        assert!(matches!(
            sigmoid.predict_classes(&DMatrix::zeros(1, 2)),
            Err(Error::Shape { .. })
        ));
    }

    #[test]
    fn stratified_rows_take_each_class_s_last_rows() {
        let labels = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1];
        let (train, test) = stratified_rows(&labels, 0.25).unwrap();
        assert_eq!(test, [6, 7, 11]);
        assert_eq!(train, [0, 1, 2, 3, 4, 5, 8, 9, 10]);
        // Interleaved classes and a class of one row: round(0.4) = 0 keeps it for training,
        // round(0.5) = 1 (halves up) holds it out.
        let (train, test) = stratified_rows(&[2, 0, 2, 0, 7], 0.4).unwrap();
        assert_eq!((train, test), (vec![0, 1, 4], vec![2, 3]));
        let (train, test) = stratified_rows(&[2, 0, 2, 0, 7], 0.5).unwrap();
        assert_eq!((train, test), (vec![0, 1], vec![2, 3, 4]));
        assert!(matches!(
            stratified_rows(&labels, 1.0),
            Err(Error::InvalidParameter { .. })
        ));
        assert!(matches!(
            stratified_rows(&[0, 1], 0.25),
            Err(Error::Empty { what: "test set" })
        ));
    }

    /// Twelve rows sorted by class: eight of class 0, then four of class 1 (one-hot targets).
    fn sorted_by_class() -> (DMatrix<f64>, DMatrix<f64>) {
        let x = DMatrix::from_fn(12, 2, |r, c| (r as f64 - 6.0) / 6.0 + c as f64 * 0.1);
        let y = DMatrix::from_fn(12, 2, |r, c| f64::from(u8::from((r >= 8) == (c == 1))));
        (x, y)
    }

    fn model() -> Sequential<f64> {
        Sequential::builder(2)
            .seed(5)
            .dense(3, Tanh)
            .dense(2, Softmax)
            .loss(CategoricalCrossEntropy)
            .build()
            .unwrap()
    }

    #[test]
    fn a_stratified_validation_split_holds_out_every_class() {
        let (x, y) = sorted_by_class();
        let fit = Fit::new(3).validation_split(0.25).accuracy(true);
        let mut stratified = model();
        let history = stratified
            .fit(
                &x,
                &y,
                &mut Sgd::new(0.1).unwrap(),
                &fit.clone().stratify(true),
            )
            .unwrap();

        // The same as training on rows 0-5 and 8-10 in order and validating on 6, 7 and 11.
        let (train, val) = ([0, 1, 2, 3, 4, 5, 8, 9, 10], [6, 7, 11]);
        let mut explicit = model();
        let (xv, yv) = (x.select_rows(&val), y.select_rows(&val));
        let expected = explicit
            .fit_with(
                &x.select_rows(&train),
                &y.select_rows(&train),
                Some((&xv, &yv)),
                &mut Sgd::new(0.1).unwrap(),
                &Fit::new(3).accuracy(true),
                &mut |_, _| Control::Continue,
            )
            .unwrap();
        assert_eq!(history, expected);
        assert_eq!(stratified.weights(0).unwrap(), explicit.weights(0).unwrap());

        // Without stratifying, the last quarter is class 1 only: another validation set.
        let plain = model()
            .fit(&x, &y, &mut Sgd::new(0.1).unwrap(), &fit)
            .unwrap();
        assert_ne!(plain.val_loss, history.val_loss);

        // Settings are checked as for a plain split.
        let err = model()
            .fit(
                &x,
                &y,
                &mut Sgd::new(0.1).unwrap(),
                &Fit::new(1).validation_split(0.01).stratify(true),
            )
            .unwrap_err();
        assert_eq!(
            err,
            Error::Empty {
                what: "validation rows after the validation split"
            }
        );
        let err = model()
            .fit(
                &x,
                &y,
                &mut Sgd::new(0.1).unwrap(),
                &Fit::new(1).validation_split(1.5).stratify(true),
            )
            .unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidParameter {
                name: "validation split",
                ..
            }
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------------------------

mod summary {
    use backprop::prelude::*;

    #[test]
    fn summary_lists_layers_shapes_activations_and_counts() {
        let model = Sequential::<f32>::builder(64)
            .dense(32, Relu)
            .dropout(0.2)
            .dense(10, Softmax)
            .loss(CategoricalCrossEntropy)
            .build()
            .unwrap();
        let summary = model.summary();
        // Counted by hand: 64 * 32 + 32 and 32 * 10 + 10.
        assert_eq!(
            summary.layers.iter().map(|l| l.params).collect::<Vec<_>>(),
            [2080, 0, 330]
        );
        assert_eq!(summary.total_params(), 2410);
        let text = summary.to_string();
        let expected = "\
Sequential<f32>: 64 inputs, loss CategoricalCrossEntropy
Layer (type)   Output shape   Activation     Param #
====================================================
0 Dense        (None, 32)     Relu              2080
1 Dropout      (None, 32)     -                    0
2 Dense        (None, 10)     Softmax            330
====================================================
Total params: 2410
";
        assert_eq!(text, expected);
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation with accuracy
// ---------------------------------------------------------------------------------------------

mod evaluation {
    use backprop::data::one_hot;
    use backprop::metrics::accuracy;
    use backprop::prelude::*;
    use nalgebra::DMatrix;

    #[test]
    fn evaluate_metrics_gives_the_loss_and_the_accuracy_over_every_chunk() {
        let model = Sequential::<f64>::builder(2)
            .seed(2)
            .dense(5, Tanh)
            .dense(3, Softmax)
            .loss(CategoricalCrossEntropy)
            .build()
            .unwrap();
        // More rows than one inference chunk (1024), labels unrelated to the inputs.
        let n = 1500;
        let x = DMatrix::from_fn(n, 2, |r, c| ((r * 7 + c * 3) % 11) as f64 / 5.0 - 1.0);
        let labels: Vec<usize> = (0..n).map(|r| (r * 5) % 3).collect();
        let y = one_hot::<f64>(&labels, 3).unwrap();
        let scores = model.evaluate_metrics(&x, &y).unwrap();
        assert_eq!(scores.loss, model.evaluate(&x, &y).unwrap());
        // Independently: the classes predicted, compared with the labels.
        let predicted = model.predict_classes(&x).unwrap();
        let hits = predicted
            .iter()
            .zip(&labels)
            .filter(|(p, l)| p == l)
            .count();
        assert_eq!(scores.accuracy, hits as f64 / n as f64);
        assert_eq!(
            scores.accuracy,
            accuracy(&model.predict(&x).unwrap(), &y).unwrap()
        );
        assert!(scores.accuracy > 0.0 && scores.accuracy < 1.0);
        assert!(matches!(
            model.evaluate_metrics(&x, &DMatrix::zeros(n, 2)),
            Err(Error::Shape { .. })
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Pairings the builder refuses
// ---------------------------------------------------------------------------------------------

mod pairing {
    use backprop::prelude::*;

    fn build_err(b: SequentialBuilder<f64>) -> Error {
        b.build().expect_err("the builder should refuse this model")
    }

    #[test]
    fn softmax_with_binary_cross_entropy_says_what_to_use() {
        let b = Sequential::<f64>::builder(4)
            .dense(8, Relu)
            .dense(3, Softmax)
            .loss(BinaryCrossEntropy);
        let err = build_err(b);
        let Error::Build {
            layer,
            problem,
            instead,
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(*layer, Some(1));
        assert_eq!(problem, "a Softmax output with BinaryCrossEntropy");
        assert!(instead.contains("CategoricalCrossEntropy with Softmax"));
        assert!(
            err.to_string().starts_with("layer 1: a Softmax output"),
            "{err}"
        );
        // The right pairings build.
        for b in [
            Sequential::<f64>::builder(4)
                .dense(3, Softmax)
                .loss(CategoricalCrossEntropy),
            Sequential::<f64>::builder(4)
                .dense(3, Sigmoid)
                .loss(BinaryCrossEntropy),
            Sequential::<f64>::builder(4)
                .dense(1, Sigmoid)
                .loss(BinaryCrossEntropy),
        ] {
            b.build().unwrap();
        }
    }

    #[test]
    fn one_output_with_categorical_cross_entropy_is_refused() {
        let err = build_err(
            Sequential::<f64>::builder(2)
                .dense(1, Sigmoid)
                .loss(CategoricalCrossEntropy),
        );
        assert!(
            matches!(&err, Error::Build { layer: Some(0), instead, .. } if instead.contains("BinaryCrossEntropy")),
            "{err}"
        );
        let err = build_err(
            Sequential::<f64>::builder(2)
                .dense(1, Softmax)
                .loss(CategoricalCrossEntropy),
        );
        assert!(
            err.to_string()
                .contains("CategoricalCrossEntropy over 1 output"),
            "{err}"
        );
    }

    #[test]
    fn a_layer_without_units_is_named() {
        let err = build_err(
            Sequential::<f64>::builder(3)
                .dense(4, Relu)
                .dense(0, Relu)
                .dense(2, Identity),
        );
        assert_eq!(
            err,
            Error::Build {
                layer: Some(1),
                problem: "Dense with 0 units".into(),
                instead: "give every layer at least one output",
            }
        );
        assert_eq!(
            err.to_string(),
            "layer 1: Dense with 0 units cannot be right: give every layer at least one output"
        );
    }
}
