// mlops-cpp-service: a tiny C++17 scoring service over libmlops through RAII wrappers.
//
//   mlops-cpp-service MODEL CSV
//
// CSV has a header row; every model feature is found by name (any column order) and the last
// column is the 0/1 label. Prints one probability per row on stdout, then on stderr the
// window accuracy from a monitor and the Prometheus exposition of the standard metrics.
// Exit status: 0 ok, 1 a library error (its message on stderr), 2 usage or unreadable input.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "mlops.hpp"

namespace {

std::vector<std::string> split(const std::string &line) {
    std::vector<std::string> out;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) out.push_back(cell);
    return out;
}

struct table {
    std::vector<float> x;      // rows x model features, in the model's order
    std::vector<double> label; // last column
};

// Read `path`, placing each column named like a model feature at that feature's index.
table read_csv(const std::string &path, const mlops::model &m) {
    std::ifstream in(path);
    std::string line;
    if (!in || !std::getline(in, line)) throw std::runtime_error(path + ": cannot read a header row");
    std::vector<std::string> head = split(line);
    if (head.size() < 2) throw std::runtime_error(path + ": need feature columns and a label column");
    std::vector<size_t> where(head.size() - 1);
    for (size_t c = 0; c + 1 < head.size(); c++) where[c] = m.find_feature(head[c]);
    if (where.size() != m.n_features()) throw std::runtime_error(path + ": not one column per model feature");
    table t;
    while (std::getline(in, line)) {
        std::vector<std::string> cells = split(line);
        if (cells.size() != head.size()) throw std::runtime_error(path + ": a row has the wrong column count");
        size_t base = t.x.size();
        t.x.resize(base + m.n_features());
        for (size_t c = 0; c < where.size(); c++) t.x[base + where[c]] = std::stof(cells[c]);
        t.label.push_back(std::stod(cells.back()));
    }
    return t;
}

int serve(const std::string &model_path, const std::string &csv_path) {
    mlops::model model(model_path);
    table t = read_csv(csv_path, model);
    mlops::metrics metrics;
    mlops_monitor_opts opts;
    mlops_monitor_opts_init(&opts, MLOPS_MONITOR_OPTS_VERSION);
    opts.window = t.label.size() ? t.label.size() : 1;
    mlops::monitor monitor(opts);

    auto start = std::chrono::steady_clock::now();
    std::vector<float> p = model.predict(t.x);
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    metrics.observe_predict(t.label.size(), took.count());
    for (size_t i = 0; i < p.size(); i++) {
        std::printf("%.9g\n", (double)p[i]);
        monitor.record(p[i], t.label[i]);
    }
    mlops_monitor_metrics w = monitor.window();
    std::fprintf(stderr, "rows %llu accuracy %.17g\n", (unsigned long long)w.count, w.accuracy);
    std::cerr << metrics.render();
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s MODEL CSV\n", argv[0]);
        return 2;
    }
    try {
        return serve(argv[1], argv[2]);
    } catch (const mlops::error &e) {
        std::fprintf(stderr, "mlops-cpp-service: %s\n", e.what());
        return 1;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "mlops-cpp-service: %s\n", e.what());
        return 2;
    }
}
