/// The version of importd, importctl and the API they speak
/// (softrip.marketing.imports.v1): `importd --version`, `importctl --version`.
public enum ImportdVersion {
    public static let string = "1.1.0"
}
