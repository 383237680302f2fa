public enum Topics {}
