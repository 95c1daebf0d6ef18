// The allocation plan as a CPLEX LP file, and the objective of GLPK's solution file.
#include "eqm/allocation/lp_format.hpp"

#include <charconv>
#include <initializer_list>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "eqm/domain/try.hpp"

namespace eqm::allocation {

namespace {

/// Terms per line: LP readers cap line lengths (CPLEX at 255 characters for safety).
constexpr int terms_per_line = 8;
constexpr std::array<char, 3> kind_letter{'r', 'q', 'f'};

/// `scaled` x 10^-decimals, exactly, as decimal text.
std::string decimal(std::int64_t scaled, int decimals) {
    auto digits = std::to_string(scaled);
    if (decimals == 0) return digits;
    const auto places = static_cast<std::size_t>(decimals);
    std::string out;
    if (digits.size() <= places) {
        out.append("0.");
        out.append(places - digits.size(), '0');
        out.append(digits);
    } else {
        out.append(digits, 0, digits.size() - places);
        out.push_back('.');
        out.append(digits, digits.size() - places);
    }
    while (out.back() == '0') out.pop_back();
    if (out.back() == '.') out.pop_back();
    return out;
}

/// `x3_12_7`: a letter and indexes joined by `_`.
std::string column(char letter, std::initializer_list<std::size_t> indexes) {
    std::string out(1, letter);
    bool first = true;
    for (const auto i : indexes) {
        if (!first) out.push_back('_');
        out.append(std::to_string(i));
        first = false;
    }
    return out;
}

/// Writes `+ coef name` terms, breaking lines.
class expression {
  public:
    explicit expression(std::ostream& out) : out_(out) {}
    void term(char sign, std::string_view coef, const std::string& name) {
        if (count_ > 0 && count_ % terms_per_line == 0) out_ << "\n   ";
        out_ << ' ' << sign << ' ' << coef << ' ' << name;
        ++count_;
    }
    bool empty() const noexcept { return count_ == 0; }

  private:
    std::ostream& out_;
    int count_ = 0;
};

struct lp_model {
    const allocation_input& in;
    const exact_costs& costs;
    lp_columns columns;

    std::string move(std::size_t k, std::size_t i, std::size_t j) const {
        return column('x', {k, i, j});
    }
    std::string unmet(std::size_t k, std::size_t j, demand_kind kind) const {
        return column(kind_letter[static_cast<std::size_t>(kind)], {k, j});
    }
    bool has_move(std::size_t k, std::size_t i, std::size_t j) const {
        if (i == j || costs.move_cost(i, j, in.city_count()) < 0) return false;
        return columns == lp_columns::all_routes ||
               (in.spare(i, k) > 0 && in.demand_of(j, k).total() > 0);
    }
};

void write_objective(const lp_model& m, std::ostream& out) {
    out << "Minimize\n cost:";
    expression e(out);
    const std::size_t n = m.in.city_count();
    for (std::size_t k = 0; k < m.in.class_count(); ++k) {
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < n; ++j)
                if (m.has_move(k, i, j))
                    e.term('+', decimal(m.costs.move_cost(i, j, n), m.costs.decimals),
                           m.move(k, i, j));
        for (std::size_t j = 0; j < n; ++j)
            for (const auto kind : demand_kinds)
                if (m.in.demand_of(j, k)[kind] > 0)
                    e.term('+', decimal(m.costs.unmet_cost(kind), m.costs.decimals),
                           m.unmet(k, j, kind));
    }
    // An empty program still needs an objective: a variable fixed at 0 (see write_bounds).
    if (e.empty()) e.term('+', "0", "nothing");
    out << '\n';
}

void write_rows(const lp_model& m, std::ostream& out) {
    out << "Subject To\n";
    const std::size_t n = m.in.city_count();
    bool any = false;
    for (std::size_t k = 0; k < m.in.class_count(); ++k) {
        for (std::size_t i = 0; i < n; ++i) {
            std::ostringstream row;
            expression e(row);
            for (std::size_t j = 0; j < n; ++j)
                if (m.has_move(k, i, j)) e.term('+', "1", m.move(k, i, j));
            if (e.empty()) continue;
            out << " s" << k << '_' << i << ':' << row.str() << " <= " << m.in.spare(i, k) << '\n';
            any = true;
        }
        for (std::size_t j = 0; j < n; ++j) {
            const auto& want = m.in.demand_of(j, k);
            if (want.total() == 0) continue;
            out << " n" << k << '_' << j << ':';
            expression e(out);
            for (std::size_t i = 0; i < n; ++i)
                if (m.has_move(k, i, j)) e.term('+', "1", m.move(k, i, j));
            for (std::size_t l = 0; l < n; ++l)
                if (m.has_move(k, j, l)) e.term('-', "1", m.move(k, j, l));
            for (const auto kind : demand_kinds)
                if (want[kind] > 0) e.term('+', "1", m.unmet(k, j, kind));
            out << " >= " << want.total() - m.in.stock_of(j, k) << '\n';
            any = true;
        }
    }
    if (!any) out << " none: nothing >= 0\n";
}

void write_bounds(const lp_model& m, std::ostream& out) {
    out << "Bounds\n";
    bool any = false;
    for (std::size_t k = 0; k < m.in.class_count(); ++k) {
        for (std::size_t j = 0; j < m.in.city_count(); ++j) {
            for (const auto kind : demand_kinds) {
                const auto amount = m.in.demand_of(j, k)[kind];
                if (amount == 0) continue;
                out << " 0 <= " << m.unmet(k, j, kind) << " <= " << amount << '\n';
                any = true;
            }
        }
    }
    if (!any) out << " nothing = 0\n";
}

}  // namespace

result<void> write_cplex_lp(const allocation_input& in, std::ostream& out, lp_columns columns) {
    EQM_TRY_LET(costs, make_exact_costs(in));
    const lp_model m{in, costs, columns};
    out << "\\ eqm allocation plan: " << in.city_count() << " cities, " << in.class_count()
        << " classes; x<class>_<from>_<to> moves, r/q/f<class>_<city> unmet reserved, quota, "
           "forecast\n";
    write_objective(m, out);
    write_rows(m, out);
    write_bounds(m, out);
    out << "End\n";
    if (!out) return fail(errc::unavailable, "", "cannot write the LP file");
    return {};
}

result<double> read_glpk_objective(std::string_view text) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto end = std::min(text.find('\n', pos), text.size());
        const auto line = text.substr(pos, end - pos);
        pos = end + 1;
        if (!line.starts_with("s bas ")) continue;
        // s bas ROWS COLS PRIMAL_STATUS DUAL_STATUS OBJECTIVE
        std::vector<std::string_view> words;
        for (std::size_t w = 0; w < line.size();) {
            const auto next = std::min(line.find(' ', w), line.size());
            if (next > w) words.push_back(line.substr(w, next - w));
            w = next + 1;
        }
        if (words.size() != 7) break;
        if (words[4] != "f" || words[5] != "f")
            return fail(errc::bad_field, "solution",
                        "not optimal: primal status " + std::string(words[4]) + ", dual status " +
                            std::string(words[5]));
        double v = 0;
        const auto [p, ec] = std::from_chars(words[6].data(), words[6].data() + words[6].size(), v);
        if (ec != std::errc{} || p != words[6].data() + words[6].size()) break;
        return v;
    }
    return fail(errc::bad_field, "solution", "no `s bas ... OBJ` line of a basic solution");
}

}  // namespace eqm::allocation
