#include "train/summary.hpp"

#include "core/json.hpp"

namespace nnctl {

int optimizer_slots(const OptimizerSpec& o) {
    if (o.type == "sgd") return o.momentum > 0 ? 1 : 0;
    if (o.type == "adam" || o.type == "adamw") return o.amsgrad ? 3 : 2;
    if (o.type == "rmsprop") return 1 + (o.centered ? 1 : 0) + (o.momentum > 0 ? 1 : 0);
    if (o.type == "adagrad") return 1;
    if (o.type == "nadam") return 2;
    return 2;
}

ModelSummary summarize(Sequential& model, const ExperimentConfig& cfg, int64_t data_rows) {
    ModelSummary s;
    s.name = cfg.name;
    s.input = model.input_shape();
    s.batch_size = cfg.training.batch_size;
    s.optimizer_slots = optimizer_slots(cfg.optimizer);
    int64_t activations = 0;
    s.graph = !model.is_chain();
    if (s.graph)
        for (size_t k = 0; k < model.input_shapes().size(); ++k)
            s.inputs.emplace_back(model.input_names()[k], model.input_shapes()[k]);
    for (const auto& o : cfg.outputs) {
        s.outputs.push_back(o.layer);
        s.output_losses.push_back(o.loss.type + (o.loss_weight != 1.0 ? " × " + format_number(o.loss_weight) : ""));
    }
    for (size_t i = 0; i < model.size(); ++i) {
        Layer& l = model.layer(i);
        LayerSummary ls;
        for (int src : model.layer_inputs(i))
            ls.inputs.push_back(src >= 0 ? model.layer(size_t(src)).name() : model.input_names()[size_t(-1 - src)]);
        ls.name = l.name();
        ls.type = l.type();
        ls.output = l.output_shape();
        ls.trainable = l.trainable();
        for (const auto& p : l.params()) {
            ls.params += p.value->size();
            (p.trainable ? s.trainable : s.non_trainable) += p.value->size();  // e.g. moving statistics
        }
        s.total += ls.params;
        activations += shape_size(ls.output) * 2;  // output and its gradient (dense keeps z as well for some)
        s.layers.push_back(ls);
    }
    s.weights_bytes = 4.0 * double(s.total) + 4.0 * double(s.trainable) * (1 + s.optimizer_slots);
    s.activations_bytes = 4.0 * double(activations + shape_size(s.input)) * double(s.batch_size);
    s.data_bytes = 4.0 * double(data_rows) * double(shape_size(s.input));
    return s;
}

}  // namespace nnctl
