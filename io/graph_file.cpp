// Graph files: writing, and reading back with every field checked.
#include <adjoint/io/graph_file.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>

#include <adjoint/core/dump.hpp>
#include <adjoint/core/error.hpp>
#include <adjoint/core/init.hpp>
#include <adjoint/ops/registry.hpp>

#include "../core/file.hpp"

namespace adjoint {

namespace {

constexpr std::string_view header = "adjoint graph 1";

std::string_view kind_name(NodeKind k) {
    switch (k) {
        case NodeKind::placeholder: return "placeholder";
        case NodeKind::variable: return "variable";
        case NodeKind::constant: return "constant";
        case NodeKind::op: return "op";
    }
    return "?";
}

// One element as text: floats in hexadecimal (exact), integers in decimal.
std::string element(const Tensor& t, std::int64_t i) {
    return visit_dtype(t.dtype(), [&](auto zero) -> std::string {
        using T = decltype(zero);
        const T v = t.data<T>()[static_cast<std::size_t>(i)];
        if constexpr (std::is_floating_point_v<T>) return fmt::format("{:a}", v);
        else return fmt::format("{}", static_cast<std::int64_t>(v));
    });
}

// " fill V" when every element has the same bits, else " values V1 V2 ...".
std::string values_of(const Tensor& t) {
    const auto* bytes = static_cast<const unsigned char*>(t.raw());
    const std::size_t size = dtype_size(t.dtype());
    if (t.numel() == 0) return " values";  // no element to read (the reader refuses empty values)
    bool uniform = true;
    for (std::size_t i = size; uniform && i < t.nbytes(); ++i) uniform = bytes[i] == bytes[i % size];
    if (uniform) return fmt::format(" fill {}", element(t, 0));
    std::string out = " values";
    for (std::int64_t i = 0; i < t.numel(); ++i) out += fmt::format(" {}", element(t, i));
    return out;
}

// Whether the initializer `description` names makes exactly `value` again.
bool remade_by(const std::string& description, const Tensor& value) {
    const auto init = init::from_description(description);
    if (!init) return false;
    try {
        const Tensor again = init->make(value.shape(), value.dtype());
        return again.nbytes() == value.nbytes() && std::memcmp(again.raw(), value.raw(), value.nbytes()) == 0;
    } catch (const Error&) {
        return false;
    }
}

}  // namespace

std::string graph_to_text(const Graph& g) {
    std::string out = fmt::format("{}\n", header);
    for (NodeId id = 0; id < g.size(); ++id) {
        const Node& n = g.node(id);
        out += fmt::format("{} {} {} {} {}", id, kind_name(n.kind), json_string(n.name), dtype_name(n.type.dtype),
                           json_string(to_string(n.type.shape)));
        switch (n.kind) {
            case NodeKind::op: {
                try {
                    (void)make_op(n.op->name(), n.op->attrs());  // it reads back, or it is not written
                } catch (const Error& e) {
                    throw Error(fmt::format("graph_to_text: node {} \"{}\" cannot be read back from a file: {}", id,
                                            n.name, e.what()));
                }
                out += fmt::format(" {} {} in", n.op->name(), json_string(n.op->attrs()));
                for (std::size_t i = 0; i < n.inputs.size(); ++i)
                    out += fmt::format("{}{}", i ? "," : " ", n.inputs[i]);
                break;
            }
            case NodeKind::variable:
                out += fmt::format(" init {}", json_string(n.init));
                if (!remade_by(n.init, n.value)) out += values_of(n.value);
                break;
            case NodeKind::constant: out += values_of(n.value); break;
            case NodeKind::placeholder: break;
        }
        out += fmt::format(" at {} {}", json_string(n.built_at.file_name()), n.built_at.line());
        if (n.gradient_of) out += fmt::format(" grad {} {}", n.gradient_of->forward, json_string(n.gradient_of->rule));
        out += "\n";
    }
    return out;
}

void save_graph(const Graph& g, const std::string& path) { replace_file(path, graph_to_text(g), "save_graph"); }

namespace {

// An error of the line being read, already naming it; `bad` makes them.
struct LineError : Error {
    using Error::Error;
};
using Bad = std::function<LineError(std::string_view)>;

// A line's words: bare words, or JSON strings (decoded).
class Words {
public:
    Words(std::string_view line, const Bad& bad) : line_(line), bad_(bad) {}
    // The next bare word, without taking it ("" at the end or before a string).
    std::string_view peek() {
        skip();
        const std::size_t end = std::min(line_.find(' ', at_), line_.size());
        return at_ < line_.size() && line_[at_] != '"' ? line_.substr(at_, end - at_) : std::string_view();
    }
    bool done() {
        skip();
        return at_ == line_.size();
    }
    std::string_view bare(std::string_view what) {
        skip();
        if (at_ == line_.size()) throw bad_(fmt::format("{} is missing", what));
        if (line_[at_] == '"') throw bad_(fmt::format("{} is a string, not a word", what));
        const std::size_t start = at_;
        while (at_ < line_.size() && line_[at_] != ' ') ++at_;
        return line_.substr(start, at_ - start);
    }
    std::string string(std::string_view what) {
        skip();
        if (at_ == line_.size() || line_[at_] != '"') throw bad_(fmt::format("{} is not a string in quotes", what));
        std::string out;
        for (++at_; at_ < line_.size() && line_[at_] != '"'; ++at_) {
            if (line_[at_] != '\\') {
                out += line_[at_];
                continue;
            }
            if (++at_ == line_.size()) break;
            switch (line_[at_]) {
                case '"':
                case '\\':
                case '/': out += line_[at_]; break;
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'r': out += '\r'; break;
                case 'u': {
                    unsigned code = 0;
                    const std::string_view hex = line_.substr(at_ + 1, 4);
                    const auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), code, 16);
                    if (hex.size() != 4 || ec != std::errc() || end != hex.data() + 4 || code >= 0x80)
                        throw bad_(fmt::format("{}: \\u{} is not an ASCII escape", what, hex));
                    out += static_cast<char>(code);
                    at_ += 4;
                    break;
                }
                default: throw bad_(fmt::format("{}: the escape \\{} is not JSON's", what, line_[at_]));
            }
        }
        if (at_ == line_.size()) throw bad_(fmt::format("{}: the string is not closed", what));
        ++at_;
        return out;
    }
    std::size_t remaining_words() const {
        std::size_t n = 0;
        for (std::size_t i = at_; i < line_.size(); ++i) n += line_[i] != ' ' && (i == 0 || line_[i - 1] == ' ');
        return n;
    }

private:
    void skip() {
        while (at_ < line_.size() && line_[at_] == ' ') ++at_;
    }
    std::string_view line_;
    std::size_t at_ = 0;
    const Bad& bad_;
};

template <class T> std::optional<T> whole_number(std::string_view s) {
    T v{};
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

// A floating value as element() writes it: [-]0x<hex>p<exp>, [-]inf or [-]nan.
std::optional<double> hex_float(std::string_view s) {
    const bool negative = s.starts_with('-');
    if (negative) s.remove_prefix(1);
    double v = 0;
    if (s == "inf") v = INFINITY;
    else if (s == "nan") v = NAN;
    else {
        if (!s.starts_with("0x")) return std::nullopt;
        s.remove_prefix(2);
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::hex);
        if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
    }
    return negative ? -v : v;
}

// `count` elements of `dtype` from the line: "fill V" or "values V1 ... Vn".
Tensor read_values(Words& w, const Shape& shape, DType dtype, const Bad& bad) {
    const std::string_view how = w.bare("fill or values");
    if (how != "fill" && how != "values") throw bad(fmt::format("\"{}\" is not fill or values", how));
    const std::int64_t n = shape.numel();
    if (how == "values" && w.remaining_words() < static_cast<std::size_t>(n))
        throw bad(fmt::format("values: {} given, the shape {} holds {}", w.remaining_words(), shape, n));
    Tensor t(shape, dtype);
    visit_dtype(dtype, [&](auto zero) {
        using T = decltype(zero);
        auto read = [&]() -> T {
            const std::string_view s = w.bare("a value");
            if constexpr (std::is_floating_point_v<T>) {
                const auto v = hex_float(s);
                if (!v) throw bad(fmt::format("\"{}\" is not a hexadecimal float (0x1.8p+1, inf, nan)", s));
                return static_cast<T>(*v);
            } else {
                const auto v = whole_number<std::int64_t>(s);
                if (!v || *v < std::numeric_limits<T>::min() || *v > std::numeric_limits<T>::max())
                    throw bad(fmt::format("\"{}\" is not a {} value", s, dtype_name(dtype)));
                return static_cast<T>(*v);
            }
        };
        auto data = t.data<T>();
        if (how == "fill") std::fill(data.begin(), data.end(), read());
        else
            for (T& x : data) x = read();
    });
    return t;
}

}  // namespace

namespace {

// Takes `bytes` of initial values from what the options allow.
void take(std::size_t& budget, std::size_t bytes) {
    if (bytes > budget)
        throw Error(
            fmt::format("its value would take {} bytes, more than the {} left of GraphFileOptions::max_value_bytes",
                        bytes, budget));
    budget -= bytes;
}

// The input ids after "in": "0,1,2", each of an earlier node.
std::vector<Expr> input_ids(const Graph& g, std::string_view ids, const Bad& bad) {
    std::vector<Expr> inputs;
    for (std::size_t at = 0; at <= ids.size();) {
        const std::size_t comma = std::min(ids.find(',', at), ids.size());
        const auto in = whole_number<NodeId>(ids.substr(at, comma - at));
        if (!in || *in >= g.size())
            throw bad(fmt::format("input \"{}\" is not the id of an earlier node", ids.substr(at, comma - at)));
        inputs.push_back(g.expr(*in));
        at = comma + 1;
    }
    return inputs;
}

// Reads one node's line into g.
void read_node(Graph& g, Words& w, std::size_t& budget, const Bad& bad) {
    const auto id = whole_number<NodeId>(w.bare("the node id"));
    if (!id || *id != g.size())
        throw bad(fmt::format("the node id is not {} (ids count from 0, one per line)", g.size()));
    const std::string_view kind = w.bare("the kind");
    Node like;
    like.name = w.string("the name");
    const std::string_view dtype = w.bare("the dtype");
    const auto t = dtype_from_name(dtype);
    if (!t) throw bad(fmt::format("\"{}\" is not a dtype (f32, f64, i32, u8)", dtype));
    like.type = {parse_shape(w.string("the shape")), *t};
    std::shared_ptr<const OpBase> op;
    std::vector<Expr> inputs;
    if (kind == "placeholder") {
        like.kind = NodeKind::placeholder;
        for (std::size_t i = 1; i < like.type.shape.rank(); ++i)
            if (like.type.shape[i] == batch) throw bad("only a placeholder's leading dim may be the batch");
    } else if (kind == "variable" || kind == "constant") {
        like.kind = kind == "variable" ? NodeKind::variable : NodeKind::constant;
        if (like.type.shape.has_batch()) throw bad(fmt::format("a {} has no batch dim", kind));
        take(budget, byte_size(like.type.shape, like.type.dtype));
        if (like.kind == NodeKind::variable) {
            if (w.bare("init") != "init") throw bad("a variable's initializer (init \"...\") must follow its shape");
            like.init = w.string("the initializer");
        }
        // The values, unless the initializer makes them.
        if (w.peek() == "fill" || w.peek() == "values") {
            like.value = read_values(w, like.type.shape, like.type.dtype, bad);
        } else if (const auto init =
                       like.kind == NodeKind::variable ? init::from_description(like.init) : std::nullopt) {
            like.value = init->make(like.type.shape, like.type.dtype);
        } else {
            throw bad(like.kind == NodeKind::constant ? "a constant's values (fill or values) must follow its shape"
                                                      : fmt::format("\"{}\" is not an initializer of the library, and "
                                                                    "no values (fill or values) follow it",
                                                                    like.init));
        }
        if (like.value.numel() == 0) throw bad(fmt::format("a {} may not be empty", kind));
    } else if (kind == "op") {
        like.kind = NodeKind::op;
        const std::string_view name = w.bare("the op");
        op = make_op(name, w.string("the attributes"));
        if (w.bare("in") != "in") throw bad("\"in\" and the input ids must follow the attributes");
        inputs = input_ids(g, w.bare("the input ids"), bad);
        // What an op overwrites must be a variable (the ops' own functions check the same).
        for (std::size_t i = 0; i < op->writes_variables() && i < inputs.size(); ++i)
            if (inputs[i].node().kind != NodeKind::variable)
                throw bad(fmt::format("{} overwrites its input {}, \"{}\", which is not a variable", name, i,
                                      inputs[i].name()));
    } else {
        throw bad(fmt::format("\"{}\" is not a kind of node (placeholder, variable, constant, op)", kind));
    }
    std::optional<Provenance> gradient_of;
    while (!w.done()) {
        const std::string_view key = w.bare("a field");
        if (key == "at") {
            const std::string file = w.string("the file");
            if (file.find('\0') != std::string::npos) throw bad("the file name holds a NUL character");
            const auto at_line = whole_number<std::uint32_t>(w.bare("the line"));
            if (!at_line) throw bad("the line after at is not a whole number");
            like.built_at = g.location(file, *at_line);
        } else if (key == "grad") {
            const auto forward = whole_number<NodeId>(w.bare("the forward node"));
            if (!forward || *forward >= g.size()) throw bad("grad: the forward node is not an earlier node");
            gradient_of = Provenance{*forward, w.string("the rule")};
        } else {
            throw bad(fmt::format("\"{}\" is not a field (at, grad)", key));
        }
    }
    const Expr e = g.append_like(like, op, inputs, gradient_of);
    if (e.name() != like.name) throw bad(fmt::format("the name \"{}\" is used twice", like.name));
    if (e.node().type.shape != like.type.shape || e.node().type.dtype != like.type.dtype)
        throw bad(fmt::format("the line says {} {}, but the op makes {} {}", dtype_name(like.type.dtype),
                              like.type.shape, dtype_name(e.dtype()), e.shape()));
}

}  // namespace

Graph graph_from_text(std::string_view text, const GraphFileOptions& options, std::string_view source) {
    Graph g;
    std::size_t budget = options.max_value_bytes;
    std::size_t line_no = 0;
    std::string_view line;
    auto next_line = [&] {
        const std::size_t end = text.find('\n');
        line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
        ++line_no;
    };
    next_line();
    if (line != header)
        throw Error(
            fmt::format("{}: line 1 is not \"{}\": not an adjoint graph file, or of another version", source, header));
    while (!text.empty()) {
        next_line();
        if (line.empty()) continue;
        const Bad bad = [&](std::string_view why) {
            return LineError(fmt::format("{}: line {}: {}", source, line_no, why));
        };
        Words w(line, bad);
        // Every error of the line names it: ours already do; the library's (a shape that
        // overflows, an initializer refusing a dtype, an op refusing its inputs) get it here.
        try {
            read_node(g, w, budget, bad);
        } catch (const LineError&) {
            throw;
        } catch (const Error& e) {
            throw bad(e.what());
        }
    }
    return g;
}

Graph load_graph(const std::string& path, const GraphFileOptions& options) {
    const FileBytes bytes = read_file(path, "load_graph");
    return graph_from_text(bytes.view(), options, fmt::format("load_graph \"{}\"", path));
}

}  // namespace adjoint
