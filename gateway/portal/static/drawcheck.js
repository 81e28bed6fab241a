/*
 * 在本页重新计算: the browser's own check of a revealed double-random draw
 * (qd-double-random/2), the same steps as gateway/portal/drawcheck.py, written against the
 * algorithm's description so that a reader trusts neither the portal's server nor the
 * inspection service. It fetches the public API document (data-src), recomputes the inputs
 * digest, the commitment, the seed and the selection with WebCrypto SHA-256 and BigInt, checks
 * the teams against the public constraints, and compares the selection with the list shown
 * on this page. Loaded as a file from 'self' (no inline script: the CSP forbids it); without
 * JavaScript the page links to the server-side check instead.
 * Under node (tests) it exports `verify`, with the same verdict fields as the Python module.
 */
(function (root) {
  "use strict";

  var ALGORITHM = "qd-double-random/2";
  var encoder = new TextEncoder();

  function DocumentInvalid(message) {
    var error = new Error(message);
    error.name = "DocumentInvalid";
    return error;
  }

  function concat(parts) {
    var size = parts.reduce(function (n, p) { return n + p.length; }, 0);
    var out = new Uint8Array(size);
    var at = 0;
    parts.forEach(function (p) { out.set(p, at); at += p.length; });
    return out;
  }

  function hex(bytes) {
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  function fromHex(text) {
    var out = new Uint8Array(text.length / 2);
    for (var i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
    return out;
  }

  function sha256(bytes) {
    return root.crypto.subtle.digest("SHA-256", bytes).then(function (d) {
      return new Uint8Array(d);
    });
  }

  // Step 2: Python's json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False).
  // JSON.stringify escapes strings as Python does for these documents (quotes, backslashes,
  // control characters, lower-case \u00xx); the keys are ASCII, so code-unit order is
  // code-point order.
  function canonical(value) {
    if (value === null || typeof value !== "object") return JSON.stringify(value);
    if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
    return "{" + Object.keys(value).sort().map(function (k) {
      return JSON.stringify(k) + ":" + canonical(value[k]);
    }).join(",") + "}";
  }

  // Step 4: NFKC, lower case, runs of [0-9a-f], decimal runs without leading zeros.
  function canonicalValue(text) {
    var runs = text.normalize("NFKC").toLowerCase().match(/[0-9a-f]+/g) || [];
    return runs.map(function (r) {
      return /^[0-9]+$/.test(r) ? BigInt(r).toString() : r;
    }).join(" ");
  }

  function gcd(a, b) { while (b) { var t = a % b; a = b; b = t; } return a; }

  // Step 5: the `count` smallest (h + 1) / weight, ties by USCC, exactly (BigInt).
  function selection(pool, count, seed) {
    return Promise.all(pool.map(function (e) {
      return sha256(concat([seed, encoder.encode(String(e.uscc))])).then(function (d) {
        return { h: BigInt("0x" + hex(d)) + 1n, w: BigInt(e.weight), uscc: String(e.uscc) };
      });
    })).then(function (keyed) {
      var common = keyed.reduce(function (l, k) { return l / gcd(l, k.w) * k.w; }, 1n);
      keyed.forEach(function (k) { k.key = k.h * (common / k.w); });
      keyed.sort(function (a, b) {
        if (a.key !== b.key) return a.key < b.key ? -1 : 1;
        return a.uscc < b.uscc ? -1 : a.uscc > b.uscc ? 1 : 0;
      });
      return keyed.slice(0, count).map(function (k) { return k.uscc; });
    });
  }

  function firstDifference(expected, published) {
    var n = Math.max(expected.length, published.length);
    for (var i = 0; i < n; i++) {
      var e = i < expected.length ? expected[i] : null;
      var p = i < published.length ? published[i] : null;
      if (e !== p) return { rank: i + 1, expected: e, published: p };
    }
    return null;
  }

  // Step 6 against its public constraints (the conflicts of interest are sealed).
  function teamFindings(inputs, listed) {
    var findings = [];
    var byName = {};
    inputs.roster.forEach(function (r) {
      (byName[r.name] = byName[r.name] || []).push(r);
    });
    var load = {};
    listed.forEach(function (entry) {
      var team = entry.team;
      var uscc = String(entry.uscc);
      if (!Array.isArray(team)) { findings.push(uscc + " 未公布检查组"); return; }
      if (team.length !== inputs.team_size || new Set(team).size !== team.length) {
        findings.push(uscc + " 检查组应为 " + inputs.team_size + " 名不同的执法人员，公布了 " +
          team.length + " 名");
      }
      team.forEach(function (name) {
        load[name] = (load[name] || 0) + 1;
        var rostered = byName[name] || [];
        if (!rostered.length) {
          findings.push(uscc + " 的检查人员 " + name + " 不在公布的执法人员名录中");
        } else if (!rostered.some(function (r) { return r.sectors.indexOf(entry.sector) >= 0; })) {
          findings.push(uscc + " 的检查人员 " + name + " 不具备 " + entry.sector + " 行业检查资格");
        }
      });
    });
    Object.keys(load).sort().forEach(function (name) {
      var rostered = byName[name] || [];
      var cap = rostered.reduce(function (n, r) { return n + r.monthly_cap; }, 0);
      if (rostered.length && load[name] > cap) {
        findings.push("执法人员 " + name + " 本月被安排 " + load[name] + " 次，超过月度上限 " + cap + " 次");
      }
    });
    return findings;
  }

  function validInputs(doc) {
    var inputs = doc.inputs;
    if (!inputs || typeof inputs !== "object" || Array.isArray(inputs)) {
      throw DocumentInvalid("the publication has no `inputs` document");
    }
    ["pool", "planned", "roster"].forEach(function (k) {
      if (!Array.isArray(inputs[k])) throw DocumentInvalid("`inputs." + k + "` is missing or not a list");
    });
    ["draw_count", "team_size", "year", "month"].forEach(function (k) {
      if (!Number.isInteger(inputs[k])) {
        throw DocumentInvalid("`inputs." + k + "` is missing or not an integer");
      }
    });
    return inputs;
  }

  function verify(doc) {
    return Promise.resolve().then(function () {
      var inputs = validInputs(doc);
      var checks = [];
      var verdict = {
        ok: true, revealed: false, checks: {}, details: {}, seed: null,
        expected_selection: [], published_selection: [], first_difference: null,
      };
      function add(name, outcome, detail) {
        checks.push(name);
        verdict.checks[name] = outcome;
        verdict.details[name] = detail;
        if (outcome === "failed") verdict.ok = false;
      }
      function pass(ok) { return ok ? "passed" : "failed"; }

      if (inputs.algorithm !== ALGORITHM) {
        add("algorithm", "failed", "算法版本 " + inputs.algorithm + " 无法复核");
        return verdict;
      }
      add("algorithm", "passed", "算法版本 " + ALGORITHM);
      var periodOk = doc.year === inputs.year && doc.month === inputs.month;
      add("period", pass(periodOk),
        periodOk ? "公示月份与抽取参数一致" : "公示月份与抽取参数中的月份不一致");

      return sha256(encoder.encode(canonical(inputs))).then(function (digest) {
        var digestOk = doc.inputs_digest === hex(digest);
        add("inputs_digest", pass(digestOk), digestOk
          ? "抽取参数（名单库、数量、执法人员名录）与公示时的摘要一致"
          : "抽取参数与公示的摘要不一致：名单库或参数在公示后被改动");
        if (doc.state !== "revealed" || doc.secret === null || doc.secret === undefined) {
          ["commitment", "seed", "selection", "teams"].forEach(function (n) {
            add(n, "skipped", "尚未揭晓：揭晓后可复核");
          });
          return verdict;
        }
        verdict.revealed = true;
        if (typeof doc.secret !== "string" || !/^(?:[0-9a-f]{2})+$/.test(doc.secret)) {
          throw DocumentInvalid("`secret` is not lower-case hex bytes");
        }
        if (doc.secret.length !== 64) throw DocumentInvalid("`secret` must be 32 bytes");
        var secret = fromHex(doc.secret);
        if (typeof doc.public_value !== "string" || !canonicalValue(doc.public_value)) {
          throw DocumentInvalid("`public_value` is missing");
        }
        var value = encoder.encode(canonicalValue(doc.public_value));
        return Promise.all([sha256(secret), sha256(concat([secret, value, digest]))])
          .then(function (hashes) {
            var commitmentOk = hex(hashes[0]) === doc.commitment;
            add("commitment", pass(commitmentOk), commitmentOk
              ? "揭晓的密钥与事先公布的承诺值相符" : "揭晓的密钥与事先公布的承诺值不符");
            var seed = hashes[1];
            verdict.seed = hex(seed);
            var seedOk = doc.seed === verdict.seed;
            add("seed", pass(seedOk), seedOk
              ? "随机种子 = SHA-256(密钥 ‖ 公开随机数 ‖ 参数摘要)，与公布值一致"
              : "按公开数据重新计算的随机种子与公布值不一致");
            if (!Array.isArray(doc.listed)) throw DocumentInvalid("`listed` is missing");
            var listed = doc.listed.filter(function (e) { return e && typeof e === "object"; });
            var drawn = listed.filter(function (e) { return e.kind === "drawn"; })
              .sort(function (a, b) { return (a.rank || 0) - (b.rank || 0); });
            verdict.published_selection = drawn.map(function (e) { return String(e.uscc); });
            return selection(inputs.pool, inputs.draw_count, seed).then(function (expected) {
              verdict.expected_selection = expected;
              var diff = firstDifference(expected, verdict.published_selection);
              verdict.first_difference = diff;
              add("selection", pass(diff === null), diff === null
                ? "按种子从 " + inputs.pool.length + " 家企业中重新抽取 " + expected.length +
                  " 家，与公布名单逐一一致"
                : "第 " + diff.rank + " 位不一致：应为 " + (diff.expected || "（无）") +
                  "，公布为 " + (diff.published || "（无）"));
              var planned = inputs.planned.map(function (p) { return String(p.uscc); }).sort();
              var shown = listed.filter(function (e) { return e.kind === "planned"; })
                .map(function (e) { return String(e.uscc); }).sort();
              var problems = teamFindings(inputs, listed);
              if (planned.join() !== Array.from(new Set(shown)).join()) {
                problems.unshift("公示的计划检查企业与抽取参数中的计划名单不一致");
              }
              add("teams", pass(!problems.length), problems.length
                ? problems.slice(0, 5).join("；")
                : "检查组人数、行业资格和月度上限均符合公开规则（回避关系依法保密，由局方复核）");
              return verdict;
            });
          });
      });
    });
  }

  var LABELS = {
    algorithm: "算法版本", period: "公示月份", inputs_digest: "参数摘要",
    commitment: "承诺值", seed: "随机种子", selection: "抽取结果", teams: "检查组",
  };
  var WORDS = { passed: "通过", failed: "不符", skipped: "待揭晓" };

  function show(output, verdict, pageSelection) {
    output.textContent = "";
    output.className = verdict.ok ? "notice notice-ok" : "notice notice-bad";
    var heading = document.createElement("p");
    heading.className = "verdict";
    heading.textContent = verdict.ok
      ? "本机重新计算完成：与公示结果一致。"
      : "本机重新计算完成：发现不一致，请见下表。";
    output.appendChild(heading);
    var list = document.createElement("ul");
    Object.keys(verdict.checks).forEach(function (name) {
      var item = document.createElement("li");
      item.textContent = (LABELS[name] || name) + "：" + WORDS[verdict.checks[name]] + "（" +
        verdict.details[name] + "）";
      list.appendChild(item);
    });
    if (verdict.revealed) {
      var same = pageSelection.join() === verdict.expected_selection.join();
      var item = document.createElement("li");
      item.textContent = "本页显示的抽取名单：" + (same ? "通过（与重新计算结果一致）" : "不符（与重新计算结果不一致）");
      list.appendChild(item);
    }
    output.appendChild(list);
  }

  function enhance() {
    var button = document.querySelector("[data-drawcheck-src]");
    var output = document.getElementById("drawcheck-result");
    if (!button || !output || !root.crypto || !root.crypto.subtle || typeof BigInt !== "function") {
      return;  // the server-side check stays the way to verify
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      button.disabled = true;
      output.textContent = "正在本机重新计算……";
      var pageSelection = Array.from(document.querySelectorAll("[data-drawn-uscc]"))
        .map(function (el) { return el.getAttribute("data-drawn-uscc"); });
      fetch(button.getAttribute("data-drawcheck-src"), { headers: { Accept: "application/json" } })
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(verify)
        .then(function (verdict) { show(output, verdict, pageSelection); })
        .catch(function (error) {
          output.textContent = "无法在本机完成重新计算（" + error.message + "），请使用服务器复核链接。";
        })
        .then(function () { button.disabled = false; });
    });
  }

  if (typeof module === "object" && module.exports) {
    module.exports = { verify: verify, canonical: canonical, canonicalValue: canonicalValue };
  } else if (typeof document !== "undefined") {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", enhance);
    else enhance();
  }
})(typeof globalThis !== "undefined" ? globalThis : this);
