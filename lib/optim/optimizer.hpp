#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "layers/layer.hpp"
#include "optim/schedule.hpp"

namespace nnctl {

/// Every optimizer's settings, with Keras' defaults (set by the config layer per type).
struct OptimizerSpec {
    std::string type = "adam";
    ScheduleSpec learning_rate;  ///< constant unless a schedule is given
    double beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7;
    bool amsgrad = false;
    double weight_decay = 0.004;  ///< adamw
    double rho = 0.9;             ///< rmsprop
    double momentum = 0.0;        ///< sgd, rmsprop
    bool nesterov = false;        ///< sgd
    bool centered = false;        ///< rmsprop
    double initial_accumulator_value = 0.1;  ///< adagrad
    double clipnorm = 0.0;         ///< > 0: clip each gradient tensor to this L2 norm
    double global_clipnorm = 0.0;  ///< > 0: scale all gradients so their joint L2 norm is at most this
    double clipvalue = 0.0;        ///< > 0: clip each gradient element to [−v, v]
};

/// Applies updates to ParamRefs; keeps its state per parameter slot (the order of `params`).
class Optimizer {
public:
    explicit Optimizer(OptimizerSpec spec) : spec_(std::move(spec)) {}
    virtual ~Optimizer() = default;
    /// One update of every trainable parameter from its gradient (regularizer gradients already added).
    void step(const std::vector<ParamRef>& params);
    /// The rate the next step will use (schedule × plateau factor).
    double current_learning_rate() const { return spec_.learning_rate.at(iterations_) * lr_factor_; }
    int64_t iterations() const { return iterations_; }
    /// Multiplier applied on top of the schedule (reduce-on-plateau).
    double lr_factor() const { return lr_factor_; }
    void set_lr_factor(double f) { lr_factor_ = f; }
    const OptimizerSpec& spec() const { return spec_; }
    virtual std::unique_ptr<Optimizer> clone() const = 0;

    /// Everything a later step depends on, for checkpoints: each slot tensor as "BANK/SLOT" (banks
    /// such as m, v; slots in the order of `params`) and the scalars (iterations, the plateau factor,
    /// running products). import_state(export) continues exactly as if never interrupted.
    void export_state(std::vector<std::pair<std::string, const Matrix*>>& tensors,
                      std::vector<std::pair<std::string, double>>& scalars) const;
    /// Throws DataError naming a missing or mis-shaped entry.
    void import_state(const std::map<std::string, Matrix>& tensors, const std::map<std::string, double>& scalars);

protected:
    /// The per-slot state banks by name, and extra scalar state, of a concrete optimizer.
    virtual std::vector<std::pair<const char*, std::vector<Matrix>*>> banks() { return {}; }
    virtual std::vector<std::pair<const char*, double*>> extra_scalars() { return {}; }
    /// Update one tensor w from gradient g at rate lr; `slot` indexes per-parameter state.
    virtual void update(size_t slot, Matrix& w, const Matrix& g, double lr) = 0;
    /// Per-slot state with the same shape as w, created on first use.
    Matrix& state(std::vector<Matrix>& bank, size_t slot, const Matrix& w, float init = 0.0f);
    OptimizerSpec spec_;
    int64_t iterations_ = 0;
    double lr_factor_ = 1.0;

private:
    Matrix clipped_;
};

std::unique_ptr<Optimizer> make_optimizer(const OptimizerSpec& spec);
const std::vector<std::string>& optimizer_names();

}  // namespace nnctl
