//! Rewrites burn-onnx's generated `forward` so that a convolution and the element-wise step
//! after it are one call of `crate::hand::fused` (one pass over the output on the CPU backend
//! instead of two or three):
//!
//! ```text
//! let c = self.convN.forward(x);            let y = crate::hand::fused::conv_clamp(
//! let y = c.clamp(0f64, 6f64);         →        &self.convN, x, 0f64, 6f64);
//!
//! let c = self.convN.forward(x);
//! let a = skip.add(c);                 →    let p = crate::hand::fused::conv_add_prelu(
//! let p = self.preluM.forward(a);               &self.convN, x, skip, &self.preluM);
//! ```
//! Only where the convolution's output (and the sum) is used by nothing else; every other line
//! is kept as generated. Plain string work on burn-onnx's one-statement-per-line output.

/// `let NAME = EXPR;` → (NAME, EXPR).
fn binding(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim().strip_prefix("let ")?.strip_suffix(';')?;
    let (name, expr) = rest.split_once(" = ")?;
    Some((name, expr))
}

/// `self.FIELD.forward(ARG)` → (FIELD, ARG).
fn module_call<'a>(expr: &'a str, field_prefix: &str) -> Option<(&'a str, &'a str)> {
    let rest = expr.strip_prefix("self.")?;
    let (field, arg) = rest.split_once(".forward(")?;
    let arg = arg.strip_suffix(')')?;
    field.starts_with(field_prefix).then_some((field, arg))
}

/// Whole-word occurrences of `name` in `src`.
fn uses(src: &str, name: &str) -> usize {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    src.match_indices(name)
        .filter(|(i, _)| {
            let before = src[..*i].chars().next_back();
            let after = src[i + name.len()..].chars().next();
            !before.is_some_and(word) && !after.is_some_and(word)
        })
        .count()
}

pub fn fuse(src: &str) -> String {
    let lines: Vec<&str> = src.lines().collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let indent = &lines[i][..lines[i].len() - lines[i].trim_start().len()];
        let conv = binding(lines[i]).and_then(|(c, e)| Some((c, module_call(e, "conv2d")?)));
        if let (Some((c, (field, arg))), Some(next)) = (conv, lines.get(i + 1)) {
            let once = |name: &str| uses(src, name) == 2; // its definition and one use
            // Convolution then clamp.
            if let Some((y, expr)) = binding(next)
                && let Some(bounds) = expr.strip_prefix(&format!("{c}.clamp(")).and_then(|b| b.strip_suffix(')'))
                && once(c)
            {
                out.push(format!("{indent}let {y} = crate::hand::fused::conv_clamp(&self.{field}, {arg}, {bounds});"));
                i += 2;
                continue;
            }
            // Convolution, residual add (`skip.add(c)`: `skip + c`, the order the fused op
            // adds in), then PReLU.
            if let Some((a, expr)) = binding(next)
                && let Some((skip, rhs)) = expr.strip_suffix(')').and_then(|e| e.split_once(".add("))
                && rhs == c
                && let Some((p, prelu_expr)) = lines.get(i + 2).and_then(|l| binding(l))
                && let Some((prelu, a_arg)) = module_call(prelu_expr, "prelu")
                && a_arg == a
                && once(c)
                && once(a)
            {
                out.push(format!(
                    "{indent}let {p} = crate::hand::fused::conv_add_prelu(&self.{field}, {arg}, {skip}, &self.{prelu});"
                ));
                i += 3;
                continue;
            }
        }
        out.push(lines[i].to_string());
        i += 1;
    }
    let mut text = out.join("\n");
    if src.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::fuse;

    #[test]
    fn clamp_and_residual_prelu_are_fused_where_used_once() {
        let src = "    pub fn forward(&self, input_1: Tensor<4>) -> Tensor<4> {
        let conv2d1_out1 = self.conv2d1.forward(input_1);
        let clip1_out1 = conv2d1_out1.clamp(0f64, 6f64);
        let conv2d2_out1 = self.conv2d2.forward(clip1_out1.clone());
        let add1_out1 = clip1_out1.add(conv2d2_out1);
        let prelu1_out1 = self.prelu1.forward(add1_out1);
        let conv2d3_out1 = self.conv2d3.forward(prelu1_out1.clone());
        let clip2_out1 = conv2d3_out1.clamp(0f64, 6f64);
        let add2_out1 = conv2d3_out1.add(clip2_out1);
        add2_out1
    }
";
        let want = "    pub fn forward(&self, input_1: Tensor<4>) -> Tensor<4> {
        let clip1_out1 = crate::hand::fused::conv_clamp(&self.conv2d1, input_1, 0f64, 6f64);
        let prelu1_out1 = crate::hand::fused::conv_add_prelu(&self.conv2d2, clip1_out1.clone(), clip1_out1, &self.prelu1);
        let conv2d3_out1 = self.conv2d3.forward(prelu1_out1.clone());
        let clip2_out1 = conv2d3_out1.clamp(0f64, 6f64);
        let add2_out1 = conv2d3_out1.add(clip2_out1);
        add2_out1
    }
";
        // conv2d3's output is used twice (clamp and add): left as generated.
        assert_eq!(fuse(src), want);
        // Idempotent: the fused code has nothing left to fuse.
        assert_eq!(fuse(want), want);
    }
}
