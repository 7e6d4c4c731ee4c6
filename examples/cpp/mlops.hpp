// RAII wrappers over the libmlops C API for C++17: handles are std::unique_ptr with the
// matching mlops_*_free deleter, a failed status becomes an mlops::error carrying the status
// and mlops_last_error(). Header-only; thread safety is the C API's (see each C header).
#ifndef MLOPS_EXAMPLE_HPP
#define MLOPS_EXAMPLE_HPP

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <mlops.h>

namespace mlops {

/// A failed call: the status and the calling thread's mlops_last_error() at the time.
class error : public std::runtime_error {
  public:
    error(mlops_status status, const std::string &what)
        : std::runtime_error(what + " (" + mlops_status_str(status) + ")"), status_(status) {}
    mlops_status status() const noexcept { return status_; }

  private:
    mlops_status status_;
};

/// Throw mlops::error unless `status` is MLOPS_OK. Call right after the C call, on the same thread.
inline void check(mlops_status status) {
    if (status != MLOPS_OK) throw error(status, mlops_last_error());
}

/// unique_ptr deleter calling the C API's free function.
template <class T, void (*Free)(T *)> struct deleter {
    void operator()(T *p) const noexcept { Free(p); }
};
template <class T, void (*Free)(T *)> using handle = std::unique_ptr<T, deleter<T, Free>>;

/// A loaded model: immutable, so predict is const and may run on many threads at once.
class model {
  public:
    explicit model(const std::string &path) {
        mlops_model *m = nullptr;
        check(mlops_model_load(path.c_str(), nullptr, &m));
        h_.reset(m);
    }
    size_t n_features() const noexcept { return mlops_model_n_features(h_.get()); }
    size_t output_width(uint32_t flags = 0) const noexcept { return mlops_model_output_width(h_.get(), flags); }
    /// Index of feature `name`; throws mlops::error (MLOPS_ENOTFOUND) when the model has none.
    size_t find_feature(const std::string &name) const {
        size_t i = 0;
        mlops_status st = mlops_model_find_feature(h_.get(), name.c_str(), &i);
        if (st == MLOPS_ENOTFOUND) throw error(st, "model: no feature '" + name + "'");
        check(st);
        return i;
    }
    /// Predict `x` (row-major, n_features() columns; NaN is missing).
    std::vector<float> predict(const std::vector<float> &x, uint32_t flags = 0) const {
        size_t nf = n_features(), rows = nf ? x.size() / nf : 0;
        if (rows * nf != x.size()) throw error(MLOPS_ESHAPE, "model: input is not a whole number of rows");
        std::vector<float> out(rows * output_width(flags));
        check(mlops_model_predict(h_.get(), x.data(), rows, nf, flags, out.data(), out.size()));
        return out;
    }
    const mlops_model *get() const noexcept { return h_.get(); }

  private:
    handle<mlops_model, mlops_model_free> h_;
};

/// A quality monitor over a sliding window of labelled predictions.
class monitor {
  public:
    explicit monitor(const mlops_monitor_opts &opts) {
        mlops_monitor *m = nullptr;
        check(mlops_monitor_create(&opts, &m));
        h_.reset(m);
    }
    void record(double pred, double label) { check(mlops_monitor_record(h_.get(), &pred, 1, label)); }
    mlops_monitor_metrics window() const {
        mlops_monitor_metrics m{};
        m.version = MLOPS_MONITOR_METRICS_VERSION;
        check(mlops_monitor_compute_metrics(h_.get(), &m));
        return m;
    }

  private:
    handle<mlops_monitor, mlops_monitor_free> h_;
};

/// A Prometheus registry with the standard ml_* metrics.
class metrics {
  public:
    explicit metrics(const std::string &prefix = "ml") {
        mlops_metrics *r = nullptr;
        check(mlops_metrics_create(nullptr, &r));
        reg_.reset(r);
        check(mlops_metrics_std_create(r, prefix.c_str(), &std_));
    }
    void observe_predict(size_t rows, double seconds) {
        check(mlops_metrics_std_observe_predict(std_, rows, seconds, MLOPS_OK));
    }
    std::string render() const {
        char *text = nullptr;
        size_t len = 0;
        check(mlops_metrics_render_alloc(reg_.get(), MLOPS_METRICS_PROMETHEUS, &text, &len));
        std::unique_ptr<char, deleter<void, mlops_free>> own(text);
        return std::string(text, len);
    }

  private:
    handle<mlops_metrics, mlops_metrics_free> reg_;
    mlops_metrics_std *std_ = nullptr; // owned by reg_
};

} // namespace mlops

#endif
