"""Independent numpy computations of chapter-6 numbers the seeds do not print in full.

Run with `python3 tests/golden/ch06.py` (numpy only); its output is `tests/golden/ch06.txt`, and
`tests/book.rs` quotes the values it uses. The crate never runs this script.
"""
import numpy as np

np.set_printoptions(precision=17)


def show(name, value):
    print(name, "=", repr(value.tolist() if isinstance(value, np.ndarray) else float(value)))


# Snippet 3 (page 108): stochastic gradient descent on the six streetlights, final weights
# (page 110 shows them rounded: .01, 1.0, -.0).
streetlights = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1], [0, 1, 1], [1, 0, 1]])
walk_vs_stop = np.array([0, 1, 0, 1, 1, 0])
weights = np.array([0.5, 0.48, -0.7])
alpha = 0.1
for iteration in range(40):
    for row_index in range(len(walk_vs_stop)):
        input = streetlights[row_index]
        goal_prediction = walk_vs_stop[row_index]
        prediction = input.dot(weights)
        delta = prediction - goal_prediction
        weights = weights - (alpha * (input * delta))
show("snippet3_final_weights", weights)

# Snippet 6: the hmkcode two-layer linear check of the study notebook (000).
input = np.array([[2, 3]])
goal_pred = 1
alpha = 0.05
weights_0_1 = np.array([[0.11, 0.12], [0.21, 0.08]])
weights_1_2 = np.array([[0.14], [0.15]])
for iteration in range(2):
    layer_1 = np.dot(input, weights_0_1)
    output = np.dot(layer_1, weights_1_2)
    error = np.sum((output - goal_pred) ** 2)
    layer_2_delta = output - goal_pred
    layer_1_delta = layer_2_delta.dot(weights_1_2.T)
    weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)
    weights_0_1 -= alpha * input.T.dot(layer_1_delta)
    show(f"snippet6_output_{iteration}", output[0, 0])
    show(f"snippet6_error_{iteration}", error)
show("snippet6_weights_0_1", weights_0_1)
show("snippet6_weights_1_2", weights_1_2)

# Snippet 7 (page 125): the forward pass with seed 1 and four hidden nodes.
relu = lambda x: (x > 0) * x
np.random.seed(1)
weights_0_1 = 2 * np.random.random((3, 4)) - 1
weights_1_2 = 2 * np.random.random((4, 1)) - 1
layer_0 = streetlights[0]
layer_1 = relu(np.dot(layer_0, weights_0_1))
layer_2 = np.dot(layer_1, weights_1_2)
show("snippet7_weights_0_1", weights_0_1)
show("snippet7_weights_1_2", weights_1_2)
show("snippet7_layer_1", layer_1)
show("snippet7_layer_2", layer_2)

# The reading notes (003) print other weights for page 125: the same stream after those 16 draws.
weights_0_1 = 2 * np.random.random((3, 4)) - 1
weights_1_2 = 2 * np.random.random((4, 1)) - 1
show("snippet7_notes_weights_0_1", weights_0_1)
show("snippet7_notes_weights_1_2", weights_1_2)
show("snippet7_notes_layer_2", np.dot(relu(np.dot(layer_0, weights_0_1)), weights_1_2))

# Snippet 10 (pages 121-123): page 130's network with a linear hidden layer, seed 1, alpha 0.2.
streetlights = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]])
walk_vs_stop = np.array([[1, 1, 0, 0]]).T
np.random.seed(1)
weights_0_1 = 2 * np.random.random((3, 4)) - 1
weights_1_2 = 2 * np.random.random((4, 1)) - 1
for iteration in range(1000):
    layer_2_error = 0
    for i in range(len(streetlights)):
        layer_0 = streetlights[i:i + 1]
        layer_1 = np.dot(layer_0, weights_0_1)
        layer_2 = np.dot(layer_1, weights_1_2)
        layer_2_error += np.sum((layer_2 - walk_vs_stop[i:i + 1]) ** 2)
        layer_2_delta = layer_2 - walk_vs_stop[i:i + 1]
        layer_1_delta = layer_2_delta.dot(weights_1_2.T)
        weights_1_2 -= 0.2 * layer_1.T.dot(layer_2_delta)
        weights_0_1 -= 0.2 * layer_0.T.dot(layer_1_delta)
    if iteration in (59, 999):
        show(f"snippet10_linear_error_{iteration + 1}", layer_2_error)
